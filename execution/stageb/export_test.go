package stageb

// ForceParallel makes x run every level with more than one tx on the pool
// and never fall back to sequential, so small test blocks exercise the
// parallel path.
func ForceParallel(x *Executor) { x.minParallelLevel, x.minChunk, x.minAvgWidth = 2, 1, 0 }
