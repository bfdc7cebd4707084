/* Minimal test harness: each tests/test_<module>.c is one ctest program.
 * TEST(name) defines a case; main() comes from TEST_MAIN(). */
#ifndef PF_TEST_H
#define PF_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*pf_test_fn)(void);
struct pf_test_case {
    const char *name;
    pf_test_fn fn;
};

extern int pf_test_failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            pf_test_failures++;                                            \
            return;                                                        \
        }                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                     \
    do {                                                                   \
        long long pf__a = (long long)(a), pf__b = (long long)(b);          \
        if (pf__a != pf__b) {                                              \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
                    __FILE__, __LINE__, #a, pf__a, #b, pf__b);             \
            pf_test_failures++;                                            \
            return;                                                        \
        }                                                                  \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

#define TEST(name) static void name(void)

/* TEST_MAIN(t1, t2, ...) runs the named tests; argv[1] filters by name. */
#define TEST_MAIN(...)                                                     \
    int pf_test_failures = 0;                                              \
    int main(int argc, char **argv)                                        \
    {                                                                      \
        struct pf_test_case cases[] = {PF__TEST_LIST(__VA_ARGS__)};        \
        int n = (int)(sizeof cases / sizeof cases[0]), ran = 0, failed = 0; \
        for (int i = 0; i < n; i++) {                                      \
            if (argc > 1 && !strstr(cases[i].name, argv[1])) continue;     \
            int before = pf_test_failures;                                 \
            cases[i].fn();                                                 \
            ran++;                                                         \
            if (pf_test_failures != before) {                              \
                failed++;                                                  \
                fprintf(stderr, "FAIL %s\n", cases[i].name);               \
            }                                                              \
        }                                                                  \
        printf("%d passed, %d failed\n", ran - failed, failed);            \
        return failed ? 1 : 0;                                             \
    }

#define PF__TC(f) {#f, f}
#define PF__TEST_LIST(...) PF__MAP(PF__TC, __VA_ARGS__)
/* Up to 40 tests per file. */
#define PF__MAP(m, ...) PF__MAP_N(__VA_ARGS__, PF__M40, PF__M39, PF__M38, PF__M37, PF__M36, PF__M35, PF__M34, PF__M33, PF__M32, PF__M31, PF__M30, PF__M29, PF__M28, PF__M27, PF__M26, PF__M25, PF__M24, PF__M23, PF__M22, PF__M21, PF__M20, PF__M19, PF__M18, PF__M17, PF__M16, PF__M15, PF__M14, PF__M13, PF__M12, PF__M11, PF__M10, PF__M9, PF__M8, PF__M7, PF__M6, PF__M5, PF__M4, PF__M3, PF__M2, PF__M1)(m, __VA_ARGS__)
#define PF__MAP_N(_1,_2,_3,_4,_5,_6,_7,_8,_9,_10,_11,_12,_13,_14,_15,_16,_17,_18,_19,_20,_21,_22,_23,_24,_25,_26,_27,_28,_29,_30,_31,_32,_33,_34,_35,_36,_37,_38,_39,_40,N,...) N
#define PF__M1(m,a) m(a)
#define PF__M2(m,a,...) m(a), PF__M1(m,__VA_ARGS__)
#define PF__M3(m,a,...) m(a), PF__M2(m,__VA_ARGS__)
#define PF__M4(m,a,...) m(a), PF__M3(m,__VA_ARGS__)
#define PF__M5(m,a,...) m(a), PF__M4(m,__VA_ARGS__)
#define PF__M6(m,a,...) m(a), PF__M5(m,__VA_ARGS__)
#define PF__M7(m,a,...) m(a), PF__M6(m,__VA_ARGS__)
#define PF__M8(m,a,...) m(a), PF__M7(m,__VA_ARGS__)
#define PF__M9(m,a,...) m(a), PF__M8(m,__VA_ARGS__)
#define PF__M10(m,a,...) m(a), PF__M9(m,__VA_ARGS__)
#define PF__M11(m,a,...) m(a), PF__M10(m,__VA_ARGS__)
#define PF__M12(m,a,...) m(a), PF__M11(m,__VA_ARGS__)
#define PF__M13(m,a,...) m(a), PF__M12(m,__VA_ARGS__)
#define PF__M14(m,a,...) m(a), PF__M13(m,__VA_ARGS__)
#define PF__M15(m,a,...) m(a), PF__M14(m,__VA_ARGS__)
#define PF__M16(m,a,...) m(a), PF__M15(m,__VA_ARGS__)
#define PF__M17(m,a,...) m(a), PF__M16(m,__VA_ARGS__)
#define PF__M18(m,a,...) m(a), PF__M17(m,__VA_ARGS__)
#define PF__M19(m,a,...) m(a), PF__M18(m,__VA_ARGS__)
#define PF__M20(m,a,...) m(a), PF__M19(m,__VA_ARGS__)
#define PF__M21(m,a,...) m(a), PF__M20(m,__VA_ARGS__)
#define PF__M22(m,a,...) m(a), PF__M21(m,__VA_ARGS__)
#define PF__M23(m,a,...) m(a), PF__M22(m,__VA_ARGS__)
#define PF__M24(m,a,...) m(a), PF__M23(m,__VA_ARGS__)
#define PF__M25(m,a,...) m(a), PF__M24(m,__VA_ARGS__)
#define PF__M26(m,a,...) m(a), PF__M25(m,__VA_ARGS__)
#define PF__M27(m,a,...) m(a), PF__M26(m,__VA_ARGS__)
#define PF__M28(m,a,...) m(a), PF__M27(m,__VA_ARGS__)
#define PF__M29(m,a,...) m(a), PF__M28(m,__VA_ARGS__)
#define PF__M30(m,a,...) m(a), PF__M29(m,__VA_ARGS__)
#define PF__M31(m,a,...) m(a), PF__M30(m,__VA_ARGS__)
#define PF__M32(m,a,...) m(a), PF__M31(m,__VA_ARGS__)
#define PF__M33(m,a,...) m(a), PF__M32(m,__VA_ARGS__)
#define PF__M34(m,a,...) m(a), PF__M33(m,__VA_ARGS__)
#define PF__M35(m,a,...) m(a), PF__M34(m,__VA_ARGS__)
#define PF__M36(m,a,...) m(a), PF__M35(m,__VA_ARGS__)
#define PF__M37(m,a,...) m(a), PF__M36(m,__VA_ARGS__)
#define PF__M38(m,a,...) m(a), PF__M37(m,__VA_ARGS__)
#define PF__M39(m,a,...) m(a), PF__M38(m,__VA_ARGS__)
#define PF__M40(m,a,...) m(a), PF__M39(m,__VA_ARGS__)

#endif
