/* Allocation through a pf_mem (NULL: the C library's).  Every allocation
 * in the core goes through these, so an embedder can account for, cap or
 * fail them (tests/test_alloc.c fails each one in turn). */
#ifndef PF_CORE_UTIL_MEM_H
#define PF_CORE_UTIL_MEM_H

#include <stddef.h>

#include "peerflow/peerflow.h"

void *pf__malloc(const pf_mem *m, size_t size);
void *pf__calloc(const pf_mem *m, size_t nmemb, size_t size);
void *pf__realloc(const pf_mem *m, void *ptr, size_t size);
void pf__free(const pf_mem *m, void *ptr);
char *pf__strdup(const pf_mem *m, const char *s);
char *pf__strndup(const pf_mem *m, const char *s, size_t n);

#endif
