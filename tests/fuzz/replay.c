/*
 * Replays a fuzz target's corpus without libFuzzer, so `make check` (and
 * its ASan/UBSan build) runs every saved input through the parser.
 * Usage: replay_NAME [FILE|DIR ...]; with no argument it reads
 * $FUZZ_CORPUS_DIR/NAME, NAME taken from the program's own name.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *f;
	uint8_t *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if (n < 0 || (buf = malloc(n ? (size_t)n : 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: cannot read\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int
replay_path(const char *path, int *count)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char sub[4096];
	int rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return replay_file(path);
	}
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (replay_path(sub, count) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *self, *dir;
	char path[4096];
	int i, count = 0, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_path(argv[i], &count) == -1)
				rc = 1;
	} else {
		self = strrchr(argv[0], '/');
		self = self ? self + 1 : argv[0];
		if (strncmp(self, "lt-", 3) == 0)
			self += 3;
		if (strncmp(self, "replay_", 7) == 0)
			self += 7;
		if ((dir = getenv("FUZZ_CORPUS_DIR")) == NULL)
			dir = "tests/fuzz/corpus";
		snprintf(path, sizeof(path), "%s/%s", dir, self);
		if (replay_path(path, &count) == -1)
			rc = 1;
	}
	if (count == 0) {
		fprintf(stderr, "replay: no corpus input found\n");
		return 1;
	}
	printf("replayed %d inputs\n", count);
	return rc;
}
