#include "cli.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace spool::bench {
namespace {

template <typename T>
bool parseNumber(const std::string& text, T* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

bool parseDouble(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

}  // namespace

ArgParser::ArgParser(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void ArgParser::addOption(Option option) { options_.push_back(std::move(option)); }

void ArgParser::add(const std::string& name, std::string* value, const std::string& help) {
  addOption({name, help, *value, false, [value](const std::string& v) {
               *value = v;
               return true;
             }});
}

void ArgParser::add(const std::string& name, int* value, const std::string& help) {
  addOption({name, help, std::to_string(*value), false,
             [value](const std::string& v) { return parseNumber(v, value); }});
}

void ArgParser::add(const std::string& name, unsigned* value, const std::string& help) {
  addOption({name, help, std::to_string(*value), false,
             [value](const std::string& v) { return parseNumber(v, value); }});
}

void ArgParser::add(const std::string& name, std::uint64_t* value, const std::string& help) {
  addOption({name, help, std::to_string(*value), false,
             [value](const std::string& v) { return parseNumber(v, value); }});
}

void ArgParser::add(const std::string& name, double* value, const std::string& help) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", *value);
  addOption({name, help, text, false, [value](const std::string& v) { return parseDouble(v, value); }});
}

void ArgParser::add(const std::string& name, bool* value, const std::string& help) {
  addOption({name, help, {}, true, [value](const std::string&) {
               *value = true;
               return true;
             }});
}

void ArgParser::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(0);
    }
    if (arg.rfind("--", 0) != 0) {
      usage(2, "unexpected argument '" + arg + "'");
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Option* option = nullptr;
    for (const auto& o : options_) {
      if (o.name == name) {
        option = &o;
      }
    }
    if (option == nullptr) {
      usage(2, "unknown option --" + name);
    }
    if (!option->is_flag && !has_value) {
      if (i + 1 >= argc) {
        usage(2, "--" + name + " needs a value");
      }
      value = argv[++i];
    }
    if (!option->set(value)) {
      usage(2, "bad value '" + value + "' for --" + name);
    }
  }
}

void ArgParser::usage(int code, const std::string& error) const {
  FILE* out = code == 0 ? stdout : stderr;
  if (!error.empty()) {
    std::fprintf(out, "%s: %s\n\n", program_.c_str(), error.c_str());
  }
  std::fprintf(out, "usage: %s [options]\n%s\n\noptions:\n", program_.c_str(), summary_.c_str());
  for (const auto& o : options_) {
    const std::string left = "--" + o.name + (o.is_flag ? "" : " V");
    std::fprintf(out, "  %-22s %s%s%s\n", left.c_str(), o.help.c_str(),
                 o.current.empty() ? "" : " (default ", o.current.empty() ? "" : (o.current + ")").c_str());
  }
  std::exit(code);
}

std::vector<std::string> splitList(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find(separator, start);
    const auto part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) {
      parts.push_back(part);
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return parts;
}

}  // namespace spool::bench
