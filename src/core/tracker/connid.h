/* BEP 15 connection ids without state per client, as opentracker makes
 * them: an id is a keyed hash (SipHash-2-4) of the client's address
 * (without its port) under the secret of the minute it was handed out.
 *
 * Secrets rotate: every PF_CONNID_SLOT_S seconds a fresh 128-bit secret
 * takes over, drawn from a generator that ratchets (each step replaces
 * its own state, so a secret once dropped cannot be computed again from
 * what is kept), seeded with 128 bits the caller supplies (the adapter
 * takes them from the OS).  The last PF_CONNID_KEEP secrets are kept: an
 * id is accepted for 2 to 3 minutes after it was handed out (BEP 15:
 * clients use one for a minute, trackers accept it for two), and one the
 * client kept longer, or one from before a restart, is refused.  Time is
 * passed in (ns); the rotation happens lazily in the calls. */
#ifndef PF_CORE_TRACKER_CONNID_H
#define PF_CORE_TRACKER_CONNID_H

#include <stdint.h>

#include "peerflow/peerflow.h"

#define PF_CONNID_SLOT_S 60u
#define PF_CONNID_KEEP 3

typedef struct pf__connid {
    uint64_t state[2];                /* the generator's, ratcheted */
    uint64_t key[PF_CONNID_KEEP][2];  /* [0]: the current slot's secret */
    uint64_t slot;                    /* the slot key[0] belongs to */
    int have;                         /* secrets valid in key[] (from [0]) */
} pf__connid;

/* SipHash-2-4 of n little-endian 64-bit words under key k (the standard
 * function of their 8 n bytes). */
uint64_t pf__siphash24(const uint64_t k[2], const uint64_t *w, int n);

/* seed: 16 bytes of entropy. */
void pf__connid_init(pf__connid *c, const uint8_t seed[16], uint64_t now_ns);
/* The id to hand a client at address a now. */
uint64_t pf__connid_make(pf__connid *c, const pf_addr *a, uint64_t now_ns);
/* 1 if id was handed to address a within the kept slots, else 0. */
int pf__connid_check(pf__connid *c, const pf_addr *a, uint64_t id, uint64_t now_ns);

#endif
