// The C reproducer generator: one self-contained C program (libc and raw syscalls only) that
// runs a scenario the way the executor does and checks what the model predicts, for people
// who will not build addfdlab. See docs/reproducers.md.
#ifndef ADDFDLAB_EMIT_C_H_
#define ADDFDLAB_EMIT_C_H_

#include <string>

#include "addfdlab/model.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

struct EmitCOptions {
  // The model's environment. The program checks at run time the features and limits that
  // its scenario depends on and skips (exit 4) where the kernel lacks one.
  ModelEnv env;
  // Where the scenario came from, for the program's header and TAP output.
  std::string source_name = "scenario";
};

// The C program of `scenario`: TAP on stdout, exit 0 when the kernel conforms, 1 when a
// deviation reproduces (the cell and op named), 4 when a feature it needs is missing or no
// attempt kept to the schedule. EINVAL, naming the op (number and text), when the scenario
// uses an op the generator does not support yet; the scenario must be valid.
Result<std::string> EmitC(const Scenario& scenario, const EmitCOptions& options);

}  // namespace addfdlab

#endif  // ADDFDLAB_EMIT_C_H_
