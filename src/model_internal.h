// Helpers the reference model's files share (model.cc, model_predict.cc, model_apply.cc,
// model_notify.cc); not part of the library's interface.
#ifndef ADDFDLAB_SRC_MODEL_INTERNAL_H_
#define ADDFDLAB_SRC_MODEL_INTERNAL_H_

#include <cerrno>
#include <cstdint>

#include "addfdlab/model.h"
#include "addfdlab/uapi.h"

namespace addfdlab::model_internal {

inline constexpr uint32_t kFilterMask =
    0x3f;  // SECCOMP_FILTER_FLAG_MASK (TSYNC..WAIT_KILLABLE_RECV)

// The agent passes fd arguments as C ints: a wider literal is what its low 32 bits say.
inline int AsInt(int64_t value) { return static_cast<int>(static_cast<uint32_t>(value)); }

// FILTER.FLAGS: seccomp_set_mode_filter's checks of the flags alone (kernel/seccomp.c);
// the errno, or 0.
inline int FilterFlagsError(uint32_t flags, const ModelEnv& env) {
  if ((flags & ~kFilterMask) != 0 ||
      ((flags & uapi::kFilterWaitKillableRecv) != 0 && !env.wait_killable_recv)) {
    return EINVAL;
  }
  if ((flags & uapi::kFilterTsync) && (flags & uapi::kFilterNewListener) &&
      !(flags & uapi::kFilterTsyncEsrch)) {
    return EINVAL;
  }
  if ((flags & uapi::kFilterWaitKillableRecv) && !(flags & uapi::kFilterNewListener)) {
    return EINVAL;
  }
  return 0;
}

}  // namespace addfdlab::model_internal

#endif  // ADDFDLAB_SRC_MODEL_INTERNAL_H_
