package spin

// Pause is the processor's spin-wait hint (PAUSE), for each turn of a
// loop that polls a line another core will write. A tight loop of loads
// keeps the line busy in this core and takes a pipeline clear when the
// store arrives; with PAUSE, a two-process flag barrier on the
// development machine (AMD EPYC family 26) takes 215-225 ns a round
// against 291-293 ns without (BENCHMARKS.md, issue 16). capi's C loops do
// the same (gs_pause).
func Pause()
