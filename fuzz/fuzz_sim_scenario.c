/* Fuzz the simulator's scenario parser (src/sim/scenario.c, docs/SIM.md
 * "Scenario files").  Invariants: it returns 0 or -1; an error names the
 * file ("f.sim:" first); a scenario it accepts is one pf_sim_run could
 * start: shares add up, curves increase, values in their ranges. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_sim_scenario sc;
    char err[512];
    err[0] = 0;
    pf_sim_scenario_default(&sc);
    int rc = pf_sim_scenario_parse((const char *)data, size, "f.sim", &sc, err, sizeof err);
    if (rc != 0) {
        if (rc != -1 || strncmp(err, "f.sim:", 6) != 0) abort();
        return 0;
    }
    if (!sc.viewers || sc.ncls < 1 || sc.ncls > PF_SIM_MAX_CLASSES) abort();
    double sum = 0;
    for (uint32_t i = 0; i < sc.ncls; i++) {
        if (!sc.cls[i].up_Bps || !sc.cls[i].down_Bps || !(sc.cls[i].share > 0)) abort();
        sum += sc.cls[i].share;
    }
    if (fabs(sum - 1) > 1e-6) abort();
    sum = 0;
    for (uint32_t i = 0; i < sc.nwatch; i++) {
        if (sc.watch[i].s < 1 || !(sc.watch[i].share > 0)) abort();
        sum += sc.watch[i].share;
    }
    if (sum > 1 + 1e-6 || sc.watch_s < 1) abort();
    sum = 0;
    for (uint32_t i = 0; i < sc.nisp; i++) sum += sc.isp[i].share;
    if (sc.nisp && fabs(sum - 1) > 1e-6) abort();
    if (sc.arrival == PF_SIM_ARRIVAL_CURVE) {
        if (sc.ncurve < 2 || sc.curve_t[0] != 0) abort();
        for (uint32_t i = 1; i < sc.ncurve; i++)
            if (!(sc.curve_t[i] > sc.curve_t[i - 1])) abort();
        if (sc.arrival_s != sc.curve_t[sc.ncurve - 1]) abort();
    }
    if (sc.titles < 1 || sc.titles > 100000 || !(sc.zipf_s >= 0)) abort();
    if (sc.startup_s > sc.buffer_s || sc.rebuffer_s > sc.buffer_s) abort();
    if (sc.bitrate / 8 * sc.duration_s < sc.piece_len) abort();
    return 0;
}
