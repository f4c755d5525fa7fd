// Tiny command-line parser shared by the benchmarks: `--name value`,
// `--name=value` and boolean `--flag`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace spool::bench {

/// Registers options bound to variables, then parses argv into them.
/// Unknown options, missing values and malformed numbers are fatal (exit 2)
/// with a usage message: a benchmark run with a typo must not silently
/// measure the default configuration.
class ArgParser {
 public:
  explicit ArgParser(std::string program, std::string summary);

  void add(const std::string& name, std::string* value, const std::string& help);
  void add(const std::string& name, int* value, const std::string& help);
  void add(const std::string& name, unsigned* value, const std::string& help);
  void add(const std::string& name, std::uint64_t* value, const std::string& help);
  void add(const std::string& name, double* value, const std::string& help);
  /// A flag: present means true.
  void add(const std::string& name, bool* value, const std::string& help);

  /// Parses; prints usage and exits 0 on --help.
  void parse(int argc, char** argv);

 private:
  struct Option {
    std::string name;
    std::string help;
    std::string current;  // default, for the usage text
    bool is_flag = false;
    std::function<bool(const std::string&)> set;
  };
  void addOption(Option option);
  [[noreturn]] void usage(int code, const std::string& error = {}) const;

  std::string program_;
  std::string summary_;
  std::vector<Option> options_;
};

/// Splits "a,b,c" into its parts (empty parts dropped).
std::vector<std::string> splitList(const std::string& text, char separator = ',');

}  // namespace spool::bench
