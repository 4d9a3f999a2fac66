/*
 * sandbox_priv: the privilege drop of a worker (chroot to the empty
 * directory, then the user) and the master's preparation of that
 * directory.  Shared by both sandbox backends.  The worker part runs after
 * every socket and mapping is open and before any client byte is read.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/sandbox.h"

int
sandbox_prepare(char *err, size_t errlen)
{
	char path[sizeof(SANDBOX_EMPTY_DIR)], *p;
	struct stat st;

	if (geteuid() != 0)
		return 0;
	/* mkdir -p: RUNSTATEDIR may not exist yet (/usr/local/var/run). */
	memcpy(path, SANDBOX_EMPTY_DIR, sizeof(path));
	for (p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (p == path + sizeof(path) - 1)
			break;
		*p = '/';
	}
	if (lstat(SANDBOX_EMPTY_DIR, &st) == -1) {
		snprintf(err, errlen, "stat %s: %s", SANDBOX_EMPTY_DIR,
		    strerror(errno));
		return -1;
	}
	/* A directory someone else can write to is no jail. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "%s must be a directory owned by root "
		    "and writable by nobody else", SANDBOX_EMPTY_DIR);
		return -1;
	}
	return 0;
}

int
sandbox_drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;
	struct rlimit rl;
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid, gid;
	uid_t uid;

	/* Time zone data cannot be read once chrooted (syslog timestamps). */
	tzset();

	if (geteuid() != 0) {
		log_warnx("not started as root: workers keep uid %ld, no "
		    "chroot", (long)geteuid());
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user \"%s\": %s", user, errno != 0 ?
		    strerror(errno) : "no such user (set \"user:\" in the "
		    "configuration)");
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root: workers must not "
		    "run as root", user);
		return -1;
	}
	if (chroot(SANDBOX_EMPTY_DIR) == -1) {
		snprintf(err, errlen, "chroot %s: %s", SANDBOX_EMPTY_DIR,
		    strerror(errno));
		return -1;
	}
	if (chdir("/") == -1) {
		snprintf(err, errlen, "chdir /: %s", strerror(errno));
		return -1;
	}
	if (setgroups(1, &gid) == -1) {
		snprintf(err, errlen, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		snprintf(err, errlen, "setresgid %ld: %s", (long)gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "setresuid %ld: %s", (long)uid,
		    strerror(errno));
		return -1;
	}
	/* Verify: no way back to root, whatever the libc did. */
	if (getresgid(&rgid, &egid, &sgid) == -1 ||
	    getresuid(&ruid, &euid, &suid) == -1 ||
	    rgid != gid || egid != gid || sgid != gid ||
	    ruid != uid || euid != uid || suid != uid ||
	    setuid(0) != -1 || seteuid(0) != -1) {
		snprintf(err, errlen, "privilege drop to %s did not stick",
		    user);
		return -1;
	}
	/* rlimits: a worker never starts a process (seccomp says so too,
	 * but sandbox_none.c has no filter). */
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_NPROC, &rl) == -1) {
		snprintf(err, errlen, "setrlimit RLIMIT_NPROC: %s",
		    strerror(errno));
		return -1;
	}
	log_debug("chrooted to %s, running as %s (%ld:%ld)",
	    SANDBOX_EMPTY_DIR, user, (long)uid, (long)gid);
	return 0;
}
