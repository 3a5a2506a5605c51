package store

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTxnParallel creates keys with pod-sized values from 50
// goroutines on disk: the store's group commit shares each fsync among the
// writers waiting. It reports latency percentiles.
func BenchmarkTxnParallel(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 1500)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			t0 := time.Now()
			_, _, err := s.Txn(context.Background(), Op{Key: fmt.Sprintf("core/pods/default/pod-%06d", i), Cond: CondAbsent,
				Build: func(int64, *Entry) ([]byte, any, error) { return value, nil, nil }})
			if err != nil {
				b.Error(err)
				return
			}
			lat[i] = time.Since(t0)
		}
	})
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
}
