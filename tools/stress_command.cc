// addfdlab stress: the races one CPU cannot schedule, hunted on several CPUs, with a
// verdict per cell and its reproduction rate.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "addfdlab/stress.h"
#include "commands.h"

namespace addfdlab::tools {
namespace {

struct StressCliOptions {
  StressOptions stress;
  std::string race = "all";
  std::string known;
  bool json = false;
};

std::string Rate(uint64_t k, uint64_t n) {
  char text[64];
  std::snprintf(text, sizeof(text), "%llu of %llu", static_cast<unsigned long long>(k),
                static_cast<unsigned long long>(n));
  return text;
}

nlohmann::json ReportJson(const StressReport& r) {
  const StressCounts& c = r.counts;
  nlohmann::json rows = nlohmann::json::array();
  for (const StressCellRow& row : r.rows) {
    rows.push_back({{"cell", row.cell},
                    {"status", CellStatusName(row.status)},
                    {"reached", row.reached},
                    {"deviations", row.deviations},
                    {"rounds", c.attempts},
                    {"evidence", row.evidence},
                    {"reason", row.reason}});
  }
  nlohmann::json findings = nlohmann::json::array();
  for (const StressFinding& f : r.findings) {
    findings.push_back({{"signature", f.Signature()},
                        {"kind", f.kind},
                        {"cell", f.cell},
                        {"reply", f.reply},
                        {"count", f.count},
                        {"rounds", c.attempts},
                        {"example", f.example},
                        {"known", f.known}});
  }
  return {{"kernel", r.kernel},
          {"cpus", r.cpus},
          {"cpu_note", r.cpu_note},
          {"race", StressRaceName(r.options.race)},
          {"seed", r.options.seed},
          {"tasks", r.options.tasks},
          {"threads", r.options.threads},
          {"hammers", r.options.hammers},
          {"signal_period_us", r.options.signal_period_us},
          {"wait_killable_recv", r.wait_killable},
          {"seconds", r.seconds},
          {"rounds_per_second", r.RoundsPerSecond()},
          {"hung", r.hung},
          {"hygiene", r.hygiene},
          {"ok", r.ok()},
          {"counts",
           {{"attempts", c.attempts},
            {"notifications", c.notifications},
            {"id_gaps", c.id_gaps},
            {"recv_stale", c.recv_stale},
            {"replies_ok", c.replies_ok},
            {"send_ok", c.send_ok},
            {"addfd_send_ok", c.addfd_send_ok},
            {"addfd_then_send_ok", c.addfd_then_send_ok},
            {"addfd_eintr", c.addfd_eintr},
            {"send_eintr", c.send_eintr},
            {"id_valid_eintr", c.id_valid_eintr},
            {"addfd_send_signalled", c.addfd_send_signalled},
            {"target_signals", c.target_signals},
            {"supervisor_signals", c.supervisor_signals},
            {"signalled_attempts", c.signalled_attempts},
            {"leaked_fds", c.leaked_fds}}},
          {"cells", rows},
          {"findings", findings}};
}

void PrintReport(const StressReport& r) {
  const StressCounts& c = r.counts;
  std::printf(
      "kernel %s, %d CPU%s, race %s, %d tasks, %d supervisor threads, %d hammers, signal every "
      "%d us, seed %llu\n",
      r.kernel.c_str(), r.cpus, r.cpus == 1 ? "" : "s", StressRaceName(r.options.race),
      r.options.tasks, r.options.threads, r.options.hammers, r.options.signal_period_us,
      static_cast<unsigned long long>(r.options.seed));
  if (!r.cpu_note.empty()) std::printf("note: %s\n", r.cpu_note.c_str());
  std::printf(
      "%llu rounds in %.2f s (%.0f rounds/s): %llu notifications, %llu ids never received, "
      "%llu stale RECVs, %llu replies accepted; EINTR from ADDFD %llu, SEND %llu, ID_VALID "
      "%llu; signals %llu to the target, %llu to the supervisor\n\n",
      static_cast<unsigned long long>(c.attempts), r.seconds, r.RoundsPerSecond(),
      static_cast<unsigned long long>(c.notifications), static_cast<unsigned long long>(c.id_gaps),
      static_cast<unsigned long long>(c.recv_stale), static_cast<unsigned long long>(c.replies_ok),
      static_cast<unsigned long long>(c.addfd_eintr), static_cast<unsigned long long>(c.send_eintr),
      static_cast<unsigned long long>(c.id_valid_eintr),
      static_cast<unsigned long long>(c.target_signals),
      static_cast<unsigned long long>(c.supervisor_signals));
  std::printf("%-32s %-9s %-22s %-22s %s\n", "cell", "status", "reached", "deviated",
              "evidence / reason");
  for (const StressCellRow& row : r.rows) {
    std::printf("%-32s %-9s %-22s %-22s %s\n", row.cell.c_str(), CellStatusName(row.status),
                Rate(row.reached, c.attempts).c_str(), Rate(row.deviations, c.attempts).c_str(),
                (row.reason.empty() ? row.evidence : row.reason).c_str());
  }
  if (!r.findings.empty()) std::printf("\nfindings:\n");
  for (const StressFinding& f : r.findings) {
    std::printf("  %-44s %s rounds%s\n    e.g. %s\n", f.Signature().c_str(),
                Rate(f.count, c.attempts).c_str(),
                f.known.empty() ? "" : (", known: " + f.known).c_str(), f.example.c_str());
  }
  std::printf("\n%s\n", r.ok() ? "verdict: clean (every finding, if any, a known deviation)"
                               : "verdict: findings no known deviation explains");
}

int RunStressCommand(StressCliOptions options) {
  if (!ParseStressRace(options.race, &options.stress.race)) {
    std::cerr << "addfdlab stress: --race: fast-reply, lock-eintr or all\n";
    return kExitUsage;
  }
  const std::string known_path =
      options.known.empty() ? RepositoryKnownDeviations() : options.known;
  auto known = LoadKnownDeviations(known_path);
  if (!known) {
    std::cerr << "addfdlab stress: " << known.error().message() << "\n";
    return kExitUsage;
  }
  options.stress.known = std::move(*known);
  options.stress.plant = StressPlantFromEnvironment();
  const Features features = ProbeFeatures();
  auto report = RunStress(options.stress, features);
  if (!report) {
    std::cerr << "addfdlab stress: " << report.error().ToString() << "\n";
    return report.error().value() == EINVAL ? kExitUsage : 1;
  }
  if (options.json) {
    std::cout << ReportJson(*report).dump(2) << "\n";
  } else {
    PrintReport(*report);
  }
  return report->ok() ? 0 : 1;
}

}  // namespace

void AddStressCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<StressCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stress",
      "Hunt the races one CPU cannot schedule (WAIT_KILLABLE fast reply, ADDFD.LOCK.EINTR) "
      "on several CPUs, with periodic signals and an accounting oracle");
  cmd->add_option("--rounds", options->stress.rounds, "Trapped syscall attempts in all")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--tasks", options->stress.tasks, "Trapping tasks in the target")
      ->capture_default_str()
      ->check(CLI::Range(1, 5));
  cmd->add_option("--threads", options->stress.threads, "Supervisor threads (RECV and reply)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_option("--hammer", options->stress.hammers,
                  "Threads that only call ID_VALID, contending for the notifier lock")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  cmd->add_option("--cpus", options->stress.cpus, "Run on the first N allowed CPUs (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--signal-period-us", options->stress.signal_period_us,
                  "One signal to each victim per period (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000000));
  cmd->add_option("--race", options->race, "fast-reply, lock-eintr or all")
      ->capture_default_str()
      ->check(CLI::IsMember({"fast-reply", "lock-eintr", "all"}));
  cmd->add_option("--seed", options->stress.seed, "Chooses each attempt's reply kind")
      ->capture_default_str();
  cmd->add_option("--known", options->known,
                  "Known-deviations JSON (default: the repository's corpus/contract list)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([&run, options] { run = [options] { return RunStressCommand(*options); }; });
}

}  // namespace addfdlab::tools
