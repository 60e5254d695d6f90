// The C reproducer's fixed runtime (src/emit_c_prelude.c), embedded at build time.
#ifndef ADDFDLAB_SRC_EMIT_C_PRELUDE_H_
#define ADDFDLAB_SRC_EMIT_C_PRELUDE_H_

namespace addfdlab {

// The text of src/emit_c_prelude.c: everything a reproducer needs but its scenario.
extern const char kEmitCPrelude[];

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_EMIT_C_PRELUDE_H_
