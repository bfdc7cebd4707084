/* HTTP(S) GET client: libcurl's multi interface driven by a libuv loop
 * (curl_multi_socket_action with one uv_poll_t per socket and one
 * uv_timer_t).  Used for tracker announces and BEP 19 web seed range
 * requests: many concurrent transfers, keep-alive connection reuse,
 * streaming bodies.  Single-threaded: every function must be called on
 * the loop's thread; callbacks run on it too. */
#ifndef PF_NET_HTTP_CLIENT_H
#define PF_NET_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct pf_http_client pf_http_client;
typedef struct pf_http_req pf_http_req;

typedef struct pf_http_opts {
    const char *url;       /* copied; http:// or https:// only */
    uint64_t range_start;
    uint64_t range_len;    /* 0 = no Range header */
    long timeout_ms;       /* whole transfer; 0 = none */
    long connect_timeout_ms; /* 0 = curl's default (300 s) */
    int follow;            /* follow up to 5 redirects (web seeds); 0 for
                              trackers */
    size_t max_body;       /* collected bodies (on_data == NULL) only:
                              longer ones are aborted with PF_ERR_LIMIT,
                              at once when Content-Length says so, else
                              when the bytes reach it; 0 =
                              PF_HTTP_DEFAULT_MAX_BODY (1 MiB, a tracker
                              reply); at most PF_HTTP_MAX_BODY */
    const void *post;      /* non-NULL: POST these post_len bytes (copied)
                              instead of a GET */
    size_t post_len;
    const char *content_type; /* the POST's Content-Type (copied) */
    const char *headers;   /* more request headers: "Name: value" lines
                              ending in CRLF or LF (copied); NULL: none */
    /* Called once, before the first body byte reaches on_data (or before
     * on_done when none does), with the header block of the final
     * response (after redirects): its status line and "Name: value\r\n"
     * lines, the first PF_HTTP_MAX_HEADERS bytes of it.  NULL: not
     * wanted.  h is valid for the call only. */
    void (*on_headers)(void *ud, const char *h, size_t n);
} pf_http_opts;

#define PF_HTTP_MAX_HEADERS 8192 /* response header bytes kept for on_headers */

/* Body bytes as they arrive; return 0 to continue, non-zero to abort (the
 * transfer then ends with on_done(err = the value if negative, else
 * PF_ERR_CLOSED)).  p is valid for the call only. */
typedef int (*pf_http_data_fn)(void *ud, const uint8_t *p, size_t n);

/* Called exactly once per request unless it was cancelled.  status is the
 * HTTP status if a response arrived (also when its body was then cut
 * short and err != 0), else 0.  err: 0, PF_ERR_NET (connect/transport
 * failure), PF_ERR_TIMEOUT, PF_ERR_LIMIT (collected body over max_body),
 * PF_ERR_RANGE (a Range request answered with something other than 206
 * for the requested start), PF_ERR_NOMEM, or on_data's abort value.
 * body/body_len: the collected body when on_data was NULL (NULL/0 on
 * error), else NULL/0; valid for the call only.  The request is freed
 * when on_done returns. */
typedef void (*pf_http_done_fn)(void *ud, int err, long status,
                                const uint8_t *body, size_t body_len);

#define PF_HTTP_DEFAULT_MAX_BODY (1u << 20) /* collected-body bound by default */
#define PF_HTTP_MAX_BODY (8u << 20)         /* largest max_body accepted */

/* Returns 0 and *out, or PF_ERR_NOMEM. */
int pf_http_client_new(pf_http_client **out, uv_loop_t *loop);

/* Starts a GET.  Body handling:
 *  - on_data == NULL: the body (whatever the status) is collected, bounded
 *    by max_body (never buffered past it), and passed to on_done.
 *  - on_data != NULL: only bodies of 2xx responses are streamed to it;
 *    other statuses' bodies are discarded and on_done reports the status.
 * Range requests (range_len > 0) expect 206 with a Content-Range starting
 * at range_start; a 200 is accepted only when range_start == 0 and is cut
 * to range_len bytes (on_done then reports err 0, status 200).  The
 * amount of data is not checked: callers count the bytes they got.
 * *req_out (may be NULL) is valid until on_done returns or until
 * pf_http_cancel.  Returns 0, PF_ERR_INVAL (no url/on_done),
 * PF_ERR_NOMEM, PF_ERR_SHUTDOWN (client being freed). */
int pf_http_get(pf_http_client *c, const pf_http_opts *o,
                pf_http_data_fn on_data, pf_http_done_fn on_done, void *ud,
                pf_http_req **req_out);

/* Aborts a request; on_done is NOT called afterwards.  Safe from inside
 * any of this client's callbacks (also for the request whose on_done is
 * running, where it is a no-op). */
void pf_http_cancel(pf_http_client *c, pf_http_req *r);

/* Cancels every request (no on_done) and closes the uv handles.  Safe
 * from inside this client's callbacks.  The memory is released by the
 * handles' close callbacks, so the loop must run once more afterwards
 * (e.g. uv_run(loop, UV_RUN_DEFAULT) or UV_RUN_NOWAIT until it returns 0)
 * before uv_loop_close.  NULL is a no-op. */
void pf_http_client_free(pf_http_client *c);

#endif
