#pragma once

namespace ordermesh::actors {

/// Builds one visitor from several lambdas: `std::visit(overloaded{[](const a&) {...}, ...}, v)`.
/// A missing alternative does not compile.
template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

} // namespace ordermesh::actors
