#include "peerflow/peerflow.h"

const char *pf_strerror(int err)
{
    switch (err) {
#define PF__ERR_MSG(name, code, msg) \
    case code:                        \
        return msg;
        PF_ERR_MAP(PF__ERR_MSG)
#undef PF__ERR_MSG
    }
    return "unknown error";
}

const char *pf_err_name(int err)
{
    switch (err) {
#define PF__ERR_NAME(name, code, msg) \
    case code:                         \
        return "PF_ERR_" #name;
        PF_ERR_MAP(PF__ERR_NAME)
#undef PF__ERR_NAME
    }
    return "PF_ERR_UNKNOWN";
}
