// Native Verilator harness of the online-learning core (rtl.core.egru_core): reads commands from a
// stimulus file, drives the core's streams, and writes what the core produced, with no Python in
// the loop (sim/native_core.py writes the stimulus and reads the results).
//
// Stimulus, one command per line (payloads as hexadecimal bit patterns of the port's layout):
//   Q <parameters>          the number of master words (for R)
//   L <hex>                 one transfer on `load`
//   I                       one transfer on `init`, then wait until the core is idle
//   S <target> <learn>      a sequence's header on `seq`
//   X <hex>                 one input x_t on `x`
//   W                       wait for the sequence's end: prints P, C and U
//   R                       read back every master and momentum word: prints M
// Results, one line each:
//   P <pred hex>            the sequence's prediction (the `pred` payload)
//   C <cycles> ...          cycles of each step, from taking x_t to taking x_{t+1} or the core idle
//   U <cycles> ...          cycles each unit was busy during the sequence (unit_busy's bits)
//   M <hex> ...             the `rb_data` word of every parameter
//   T <cycles> <seconds>    at the end: cycles simulated and wall time of the simulation
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "Vegru_core.h"
#include "verilated.h"

// Verilator escapes the "__" of Amaranth's flattened port names (x__valid) as "___05F".
#define PORT(stream, member) stream##___05F##member

namespace {

Vegru_core* top = nullptr;
uint64_t cycle = 0;
std::vector<uint64_t> x_marks;
uint64_t idle_mark = 0;
bool was_busy = true;
constexpr int kUnits = UNITS;  // -DUNITS=<count of unit_busy's bits>
uint64_t unit_cycles[kUnits] = {};
bool have_pred = false;
std::string pred_hex;

uint64_t parse_u64(const std::string& hex) { return std::stoull(hex, nullptr, 16); }

// Ports of up to 64 bits are integers; wider ones are VlWide arrays of 32-bit words.
template <typename T>
void set_bits(T& port, const std::string& hex) {
    port = static_cast<T>(parse_u64(hex));
}
template <std::size_t N>
void set_bits(VlWide<N>& port, const std::string& hex) {
    for (std::size_t i = 0; i < N; ++i) {
        const long end = static_cast<long>(hex.size()) - 8 * static_cast<long>(i);
        port[i] = end <= 0 ? 0 : static_cast<uint32_t>(std::stoul(hex.substr(end < 8 ? 0 : end - 8, end < 8 ? end : 8), nullptr, 16));
    }
}
template <typename T>
std::string hex_of(const T& port) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(port));
    return buf;
}
template <std::size_t N>
std::string hex_of(const VlWide<N>& port) {
    std::string out;
    char buf[16];
    for (std::size_t i = N; i-- > 0;) {
        std::snprintf(buf, sizeof buf, "%08x", port[i]);
        out += buf;
    }
    return out;
}

// The rising edge of a settled cycle: count what happens at it, then clock. The falling edge needs
// no evaluation of its own (nothing is triggered by it); the next settle sees it.
void edge() {
    if (top->PORT(x, valid) && top->PORT(x, ready)) x_marks.push_back(cycle);
    const bool busy = top->busy;
    if (was_busy && !busy) idle_mark = cycle;
    was_busy = busy;
    for (int i = 0; i < kUnits; ++i) unit_cycles[i] += (top->unit_busy >> i) & 1;
    if (top->PORT(pred, valid) && top->PORT(pred, ready)) {
        pred_hex = hex_of(top->PORT(pred, payload));
        have_pred = true;
    }
    top->clk = 1;
    top->eval();
    top->clk = 0;
    ++cycle;
}

// One clock cycle: settle the inputs set since the last edge, then the edge.
void tick() {
    top->eval();
    edge();
}

// Offer a payload on an input stream until the core takes it.
template <typename P>
void send(CData& valid, P& payload, const CData& ready, const std::string& hex) {
    set_bits(payload, hex);
    valid = 1;
    for (;;) {
        top->eval();
        const bool taken = ready;
        edge();
        if (taken) break;
    }
    valid = 0;
}

// Clock until a cycle in which the core is idle (that cycle included).
void wait_idle() {
    for (;;) {
        top->eval();
        const bool busy = top->busy;
        edge();
        if (!busy) break;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " STIMULUS\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::cerr << argv[0] << ": cannot read " << argv[1] << "\n";
        return 2;
    }
    auto context = std::make_unique<VerilatedContext>();
    top = new Vegru_core{context.get()};
    top->clk = 0;
    top->rst = 1;
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;
    top->PORT(pred, ready) = 1;
    cycle = 0;
    uint64_t parameters = 0;
    size_t seq_start = 0;
    uint64_t units_before[kUnits] = {};
    const auto t0 = std::chrono::steady_clock::now();
    std::string line;
    std::ios::sync_with_stdio(false);
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream fields(line);
        char op;
        fields >> op;
        std::string a, b;
        fields >> a >> b;
        switch (op) {
            case 'Q': parameters = std::stoull(a); break;
            case 'L': send(top->PORT(load, valid), top->PORT(load, payload), top->PORT(load, ready), a); break;
            case 'I':
                send(top->PORT(init, valid), top->PORT(init, payload), top->PORT(init, ready), "0");
                wait_idle();
                break;
            case 'S': {
                seq_start = x_marks.size();
                for (int i = 0; i < kUnits; ++i) units_before[i] = unit_cycles[i];
                have_pred = false;
                const std::string header = hex_of((std::stoull(b) << 1) | std::stoull(a));  // {target, learn}
                send(top->PORT(seq, valid), top->PORT(seq, payload), top->PORT(seq, ready), header);
                break;
            }
            case 'X': send(top->PORT(x, valid), top->PORT(x, payload), top->PORT(x, ready), a); break;
            case 'W': {
                while (!have_pred) tick();
                wait_idle();
                std::cout << "P " << pred_hex << "\nC";
                for (size_t i = seq_start; i < x_marks.size(); ++i) {
                    const uint64_t next = i + 1 < x_marks.size() ? x_marks[i + 1] : idle_mark;
                    std::cout << ' ' << next - x_marks[i];
                }
                std::cout << "\nU";
                for (int i = 0; i < kUnits; ++i) std::cout << ' ' << unit_cycles[i] - units_before[i];
                std::cout << '\n';
                break;
            }
            case 'R':
                std::cout << 'M';
                for (uint64_t q = 0; q < parameters; ++q) {
                    top->rb_addr = q;
                    tick();
                    top->eval();
                    std::cout << ' ' << hex_of(top->rb_data);
                }
                std::cout << '\n';
                break;
            default:
                std::cerr << argv[0] << ": unknown command '" << op << "'\n";
                return 2;
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "T " << cycle << ' ' << seconds << '\n';
    top->final();
    delete top;
    return 0;
}
