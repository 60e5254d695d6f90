// JSON syntax errors as addfdlab reports them: "LINE:COL: not JSON: MESSAGE", for every
// reader of JSON (the known-deviations list, Google Benchmark output).
#ifndef ADDFDLAB_JSON_ERRORS_H_
#define ADDFDLAB_JSON_ERRORS_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace addfdlab {

// "LINE:COL" (both 1-based) of the character at `index` (0-based, clamped to the text's
// end) in `text`.
std::string LineColumn(std::string_view text, size_t index);

// nlohmann::json's parse_error::what() without its "[json.exception.parse_error.N] parse
// error at line L, column C: " prefix; with `keep_last_read` false also without its
// "; last read: '...'" tail (when the text parsed is not the one the user wrote).
std::string JsonErrorMessage(std::string_view what, bool keep_last_read);

// "LINE:COL: not JSON: MESSAGE" for a parse_error of `text` at `index` (0-based: its byte
// - 1, or where that byte came from when the text was rewritten before parsing).
std::string JsonSyntaxError(std::string_view text, size_t index, std::string_view what,
                            bool keep_last_read = true);

}  // namespace addfdlab

#endif  // ADDFDLAB_JSON_ERRORS_H_
