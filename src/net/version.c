/* Library-wide entry points: the version, and freeing what the library
 * handed over. */
#include <stdlib.h>

#include "peerflow/peerflow.h"

const char *pf_version(void) { return PF_VERSION_STRING; }

void pf_free(void *p) { free(p); }
