/* Secrets out of logs: a URL or request target with the values of its
 * secret query parameters (token=, the subscriber token of a private
 * tracker) replaced by "REDACTED". */
#ifndef PF_CORE_REDACT_H
#define PF_CORE_REDACT_H

#include <stddef.h>

/* Writes s[0, n) redacted into out (cap > 0 bytes, NUL-terminated,
 * truncated to fit); returns out. */
char *pf_redact_url(const char *s, size_t n, char *out, size_t cap);

#endif
