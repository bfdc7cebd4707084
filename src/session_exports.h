/* Forced into every library source (CMakeLists.txt: -include).  The
 * sans-I/O session API, include/peerflow/session.h, is public, but its
 * declarations do not carry PF_EXTERN yet.  The internal headers it
 * includes come first, under the library's hidden default; then
 * session.h's own declarations are read with default visibility, which
 * their definitions inherit.  Remove this file (and the -include) once
 * session.h marks its functions PF_EXTERN and includes no internal
 * header; tests/check_exports.py fails if anything else gets exported. */
#ifndef PF_SESSION_EXPORTS_H
#define PF_SESSION_EXPORTS_H

#include "core/codec/bitfield.h"
#include "core/codec/magnet.h"
#include "core/codec/metainfo.h"
#include "core/util/addr.h"
#include "core/util/buf.h"
#include "peerflow/peerflow.h"

#pragma GCC visibility push(default)
#include "peerflow/session.h"
#pragma GCC visibility pop

#endif
