/* Secrets out of logs (core/util/redact.h). */
#include "core/util/redact.h"

#include <string.h>

static const char *const SECRET_KEYS[] = {"token"};

static int secret_key(const char *k, size_t n)
{
    for (size_t i = 0; i < sizeof SECRET_KEYS / sizeof SECRET_KEYS[0]; i++)
        if (strlen(SECRET_KEYS[i]) == n && memcmp(SECRET_KEYS[i], k, n) == 0) return 1;
    return 0;
}

static void put(char *out, size_t cap, size_t *o, const char *p, size_t n)
{
    if (*o + 1 >= cap) return;
    if (n > cap - 1 - *o) n = cap - 1 - *o;
    memcpy(out + *o, p, n);
    *o += n;
}

char *pf_redact_url(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    const char *q = memchr(s, '?', n);
    size_t head = q ? (size_t)(q - s) + 1 : n;
    put(out, cap, &o, s, head);
    i = head;
    while (i < n) {
        /* '?' inside the query separates too: a stray "?token=" is
         * redacted whatever a server would make of it. */
        size_t end = i;
        while (end < n && s[end] != '&' && s[end] != '?') end++;
        const char *amp = end < n ? s + end : NULL;
        const char *eq = memchr(s + i, '=', end - i);
        if (eq && secret_key(s + i, (size_t)(eq - (s + i)))) {
            put(out, cap, &o, s + i, (size_t)(eq - (s + i)) + 1);
            put(out, cap, &o, "REDACTED", 8);
        } else {
            put(out, cap, &o, s + i, end - i);
        }
        if (amp) put(out, cap, &o, amp, 1);
        i = end + 1;
    }
    out[o] = 0;
    return out;
}
