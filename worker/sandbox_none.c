/*
 * sandbox_none: the worker confinement without a system-call filter
 * (./configure --with-sandbox=none): chroot, user, no_new_privs.  Runs in
 * workers.  `sandbox: enforce` or `log` only get a warning here.
 */
#include "config.h"

#include <sys/prctl.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/conf.h"
#include "common/log.h"
#include "worker/sandbox.h"

int
sandbox_enter(const char *user, int mode, char *err, size_t errlen)
{
	if (sandbox_drop_privileges(user, err, errlen) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "prctl PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	if (mode != CONF_SANDBOX_OFF)
		log_warnx("built without a system-call filter "
		    "(--with-sandbox=none): sandbox mode ignored");
	return 0;
}
