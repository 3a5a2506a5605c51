package plane

import (
	"math"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		flag, env string
		want      int64
		wantErr   bool
	}{
		{"", "", DefaultMemoryLimit, false},
		{"", "900MiB", 0, false}, // the runtime applied GOMEMLIMIT: leave it
		{"512Mi", "900MiB", 512 << 20, false},
		{"1G", "", 1e9, false},
		{"0", "", math.MaxInt64, false},
		{"none", "", math.MaxInt64, false},
		{"lots", "", 0, true},
		{"-5Mi", "", 0, true},
	}
	for _, tc := range tests {
		got, err := MemoryLimit(tc.flag, tc.env)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("MemoryLimit(%q, %q) = %d, %v; want %d, error %v", tc.flag, tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}
