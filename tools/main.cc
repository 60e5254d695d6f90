// addfdlab: a fuzzing and fault-injection testbed for SECCOMP_IOCTL_NOTIF_ADDFD.
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "addfdlab: fuzzing and fault injection for the seccomp user-notifier fd-injection "
      "ioctl (SECCOMP_IOCTL_NOTIF_ADDFD)",
      "addfdlab"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Every subcommand's help");
  addfdlab::tools::Runner run;
  addfdlab::tools::AddProbeCommand(app, run);
  addfdlab::tools::AddReproCommand(app, run);
  addfdlab::tools::AddContractCommand(app, run);
  addfdlab::tools::AddCellsCommand(app, run);
  addfdlab::tools::AddFuzzCommand(app, run);
  addfdlab::tools::AddScnCommand(app, run);
  addfdlab::tools::AddBenchCommand(app, run);
  addfdlab::tools::AddRollbackMatrixCommand(app, run);
  addfdlab::tools::AddVmCommand(app, run);
  addfdlab::tools::AddTriageCommand(app, run);
  addfdlab::tools::AddStressCommand(app, run);
  addfdlab::tools::AddCoverageCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "addfdlab: " << e.what() << "\n\n" << app.help();
    return addfdlab::tools::kExitUsage;
  }
  return run();
}
