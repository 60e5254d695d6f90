// addfdlab scn: converts scenarios between the .scn text and the fuzzers' binary form.
#include <cstdio>
#include <iostream>
#include <memory>

#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"
#include "commands.h"
#include "scenario_file.h"

namespace addfdlab::tools {
namespace {

struct ScnOptions {
  std::string input;
  std::string output;
  bool force = false;
};

// Prints a file's failure (its message names the file) to stderr.
void Report(const Error& error) { std::cerr << "addfdlab: " << error.message() << "\n"; }

bool Write(const ScnOptions& options, const std::string& contents) {
  const Result<void> written = WriteNewFile(options.output, contents, options.force);
  if (!written) Report(written.error());
  return written.has_value();
}

int RunEncode(const ScnOptions& options) {
  const Result<std::string> text = ReadWholeFile(options.input);
  if (!text) {
    Report(text.error());
    return kExitUsage;
  }
  ParseError error;
  const std::optional<Scenario> scenario = ParseScenario(*text, options.input, &error);
  if (!scenario) {
    std::cerr << error.ToString() << "\n";
    return kExitUsage;
  }
  const std::vector<uint8_t> bytes = EncodeScenario(*scenario);
  if (!Write(options, std::string(bytes.begin(), bytes.end()))) return kExitUsage;
  if (!scenario->cells.empty()) {
    std::cerr << "addfdlab: note: cells are text-only; the binary form leaves them out\n";
  }
  return 0;
}

int RunDecode(const ScnOptions& options) {
  const Result<std::string> read = ReadWholeFile(options.input);
  if (!read) {
    Report(read.error());
    return kExitUsage;
  }
  const std::string& data = *read;
  const std::optional<Scenario> scenario =
      DecodeScenario(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (!scenario) {
    std::cerr << "addfdlab: " << options.input << ": not a binary scenario: ";
    if (data.empty()) {
      std::cerr << "the file is empty";
    } else if (static_cast<uint8_t>(data[0]) != kCodecVersion) {
      char version[8];
      std::snprintf(version, sizeof(version), "0x%02x", static_cast<uint8_t>(data[0]));
      std::cerr << "version byte " << version << ", expected " << int{kCodecVersion};
    } else {
      std::cerr << "its header or name table is cut short or invalid";
    }
    std::cerr << " (see docs/scenario.md)\n";
    return kExitUsage;
  }
  const std::string text = PrintScenario(*scenario);
  if (options.output.empty()) {
    std::cout << text;
    return 0;
  }
  return Write(options, text) ? 0 : kExitUsage;
}

}  // namespace

void AddScnCommand(CLI::App& app, Runner& run) {
  CLI::App* scn =
      app.add_subcommand("scn", "Convert scenarios between .scn text and the fuzzers' binary form");
  scn->require_subcommand(1);

  auto encode = std::make_shared<ScnOptions>();
  CLI::App* enc = scn->add_subcommand("encode", "Encode a .scn text file as binary");
  enc->add_option("file", encode->input, "The .scn file")->required();
  enc->add_option("-o,--output", encode->output, "The binary file to write")->required();
  enc->add_flag("--force", encode->force, "Overwrite the output file if it exists");
  enc->callback([&run, encode] { run = [encode] { return RunEncode(*encode); }; });

  auto decode = std::make_shared<ScnOptions>();
  CLI::App* dec = scn->add_subcommand("decode", "Decode a binary scenario as .scn text");
  dec->add_option("file", decode->input, "The binary scenario")->required();
  dec->add_option("-o,--output", decode->output, "The .scn file to write (default: stdout)");
  dec->add_flag("--force", decode->force, "Overwrite the output file if it exists");
  dec->callback([&run, decode] { run = [decode] { return RunDecode(*decode); }; });
}

}  // namespace addfdlab::tools
