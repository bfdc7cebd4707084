/* What a run leaves for the report (report.c). */
#ifndef PF_SIM_RESULT_H
#define PF_SIM_RESULT_H

#include "sim/sim_internal.h"

struct pf_sim_result {
    sim w;            /* the world after the run: viewers' results, counters */
    double setup_s;   /* wall time to make the title and plan the viewers */
    double wall_s;    /* wall time of the whole run */
    uint64_t maxrss_kb; /* the process's peak RSS */
};

#endif
