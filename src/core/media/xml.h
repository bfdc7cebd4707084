/* A small bounded XML reader for MPDs (core/media/xml.c); internal. */
#ifndef PF_CORE_MEDIA_XML_H
#define PF_CORE_MEDIA_XML_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

typedef struct pf_xml_attr {
    uint32_t name, val; /* offsets in the pool, NUL-terminated, decoded */
} pf_xml_attr;

typedef struct pf_xml_node {
    uint32_t name;          /* qualified name ("MPD", "xlink:href") */
    uint32_t attr0, nattr;  /* its attributes: attrs[attr0, attr0 + nattr) */
    uint32_t text;          /* its first run of text, trimmed; UINT32_MAX if none */
    int32_t parent, first_child, last_child, next; /* -1: none */
    size_t offset;          /* of its '<' in the input (pf__xml_line) */
} pf_xml_node;

typedef struct pf_xml {
    pf_xml_node *nodes; /* nodes[0] is the root */
    size_t nnodes, cap_nodes;
    pf_xml_attr *attrs;
    size_t nattrs, cap_attrs;
    char *pool;
    size_t pool_len, pool_cap;
    const char *text; /* the input, borrowed for the parse only (line numbers) */
    size_t n;
    size_t line_off, line_no; /* the last pf__xml_line answer: counting goes on from there */
} pf_xml;

/* 0 and *out, or PF_ERR_PARSE / PF_ERR_LIMIT / PF_ERR_NOMEM with a reason
 * naming the line.  The tree does not point into text, except for
 * pf__xml_line, which needs the same text. */
int pf__xml_parse(const pf_mem *mem, const uint8_t *text, size_t n, pf_xml **out, char *err, size_t errlen);
void pf__xml_free(const pf_mem *mem, pf_xml *x);
/* The 1-based line of byte off of the input (linear over increasing offsets). */
size_t pf__xml_line(pf_xml *x, size_t off);
/* The element's name without its namespace prefix. */
const char *pf__xml_local(const pf_xml *x, int32_t node);
/* An attribute's decoded value by qualified name; NULL if absent (or node < 0). */
const char *pf__xml_attr(const pf_xml *x, int32_t node, const char *name);
/* The element's text; NULL if none. */
const char *pf__xml_text(const pf_xml *x, int32_t node);
/* The first child named local after child `after` (-1: from the start); -1 if none. */
int32_t pf__xml_child(const pf_xml *x, int32_t node, const char *local, int32_t after);

#endif
