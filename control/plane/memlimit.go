package plane

import (
	"fmt"
	"math"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultMemoryLimit is the control plane's Go soft memory limit unless
// told otherwise: the garbage collector works harder as the heap nears it,
// so that a plane whose live heap is a few hundred megabytes does not grow
// to twice that between collections (GOGC's default). It is a soft limit:
// a larger live heap is never refused, it only costs more GC time.
const DefaultMemoryLimit = 700 << 20

// MemoryLimit resolves the soft memory limit in bytes from the value of a
// --memory-limit flag and of the GOMEMLIMIT environment variable: a flag
// value (a Kubernetes quantity such as "700Mi" or "1G", or "0"/"none" for
// no limit) wins; an empty flag keeps GOMEMLIMIT if it is set (the Go
// runtime has applied it, so 0 is returned: leave it), else
// DefaultMemoryLimit. It returns math.MaxInt64 for no limit.
func MemoryLimit(flag, gomemlimit string) (int64, error) {
	switch f := strings.TrimSpace(flag); {
	case f == "" && gomemlimit != "":
		return 0, nil
	case f == "":
		return DefaultMemoryLimit, nil
	case f == "0" || strings.EqualFold(f, "none"):
		return math.MaxInt64, nil
	default:
		q, err := resource.ParseQuantity(f)
		if err != nil || q.Sign() < 0 {
			return 0, fmt.Errorf("invalid memory limit %q: want a size such as 700Mi, or none", flag)
		}
		return q.Value(), nil
	}
}

// applyMemoryLimit sets the runtime's soft memory limit (0: leave it).
func applyMemoryLimit(limit int64) {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}
