/* peerflow lab: runs the lab (tools/lab/lab.py, python3) with this binary
 * as the engine under test.  The lab itself -- network namespaces, shaped
 * links, viewers, the fluid-model bound, the report -- lives in tools/lab;
 * this is only the way in.  See docs/LAB.md. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef PF_LAB_DIR
#define PF_LAB_DIR ""
#endif

#define LAB_PYTHON "/usr/bin/python3" /* the Debian interpreter (libtorrent) */
#define LAB_MAX_ARGS 256

static int lab_script(const char *dir, char *out, size_t len)
{
    if (!dir || !*dir || snprintf(out, len, "%s/lab.py", dir) >= (int)len) return -1;
    return access(out, R_OK);
}

int pf_cmd_lab(int argc, char **argv)
{
    char self[PATH_MAX], script[PATH_MAX + 32], dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "peerflow lab: cannot find own executable\n");
        return 1;
    }
    self[n] = 0;
    /* $PF_LAB_DIR, the source tree this binary was built from, or
     * ../tools/lab and ../../tools/lab next to the binary. */
    int found = lab_script(getenv("PF_LAB_DIR"), script, sizeof script) == 0 ||
                lab_script(PF_LAB_DIR, script, sizeof script) == 0;
    const char *rel[] = {"/../tools/lab", "/../../tools/lab"};
    for (size_t i = 0; !found && i < sizeof rel / sizeof rel[0]; i++) {
        const char *slash = strrchr(self, '/');
        if (!slash) break;
        int len = (int)(slash - self);
        if (snprintf(dir, sizeof dir, "%.*s%s", len, self, rel[i]) >= (int)sizeof dir) break;
        found = lab_script(dir, script, sizeof script) == 0;
    }
    if (!found) {
        fprintf(stderr, "peerflow lab: tools/lab/lab.py not found (set PF_LAB_DIR to the "
                        "tools/lab directory of a peerflow source tree)\n");
        return 1;
    }
    if (argc > LAB_MAX_ARGS - 4) {
        fprintf(stderr, "peerflow lab: too many arguments\n");
        return 2;
    }
    char *args[LAB_MAX_ARGS];
    int k = 0;
    args[k++] = LAB_PYTHON;
    args[k++] = script;
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    if (argc < 2) {
        args[k++] = "--help";
        args[k] = NULL;
    }
    setenv("PF_BIN", self, 1);
    fflush(NULL);
    execv(LAB_PYTHON, args);
    fprintf(stderr, "peerflow lab: cannot run %s: %s (apt package python3)\n", LAB_PYTHON,
            strerror(errno));
    return 1;
}
