// Minimizing a failing scenario: fewer ops, same verdict.
#ifndef ADDFDLAB_MINIMIZE_H_
#define ADDFDLAB_MINIMIZE_H_

#include <functional>

#include "addfdlab/scenario.h"

namespace addfdlab {

// Removes ops one at a time (last first, as lines of the .scn text, so that names stay
// consistent) while `still_fails` holds for the smaller scenario; repeats until no single
// op can go. `still_fails` is called only on valid scenarios.
Scenario MinimizeScenario(const Scenario& scenario,
                          const std::function<bool(const Scenario&)>& still_fails);

}  // namespace addfdlab

#endif  // ADDFDLAB_MINIMIZE_H_
