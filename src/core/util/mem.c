/* Allocation through a pf_mem (see mem.h). */
#include "core/util/mem.h"

#include <stdlib.h>
#include <string.h>

void *pf__malloc(const pf_mem *m, size_t size)
{
    return m ? m->malloc(size ? size : 1, m->ud) : malloc(size ? size : 1);
}

void *pf__calloc(const pf_mem *m, size_t nmemb, size_t size)
{
    if (!nmemb || !size) nmemb = size = 1;
    return m ? m->calloc(nmemb, size, m->ud) : calloc(nmemb, size);
}

void *pf__realloc(const pf_mem *m, void *ptr, size_t size)
{
    return m ? m->realloc(ptr, size ? size : 1, m->ud) : realloc(ptr, size ? size : 1);
}

void pf__free(const pf_mem *m, void *ptr)
{
    if (!ptr) return;
    if (m)
        m->free(ptr, m->ud);
    else
        free(ptr);
}

char *pf__strdup(const pf_mem *m, const char *s) { return pf__strndup(m, s, strlen(s)); }

char *pf__strndup(const pf_mem *m, const char *s, size_t n)
{
    char *r = pf__malloc(m, n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}
