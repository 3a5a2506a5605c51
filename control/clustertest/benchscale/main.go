// Command benchscale is mini's scale benchmark: a control plane (scheduler
// and controllers included) in a child process, N simulated nodes in this
// process, and a workload of Deployments (or bare pods) applied at once. It
// reports the time from apply until every pod is Running, the scheduling
// throughput, the latency of mutating API requests made by a probe during
// the run, and the control plane's peak RSS, next to a baseline measured in
// the same run: creating the same number of pods straight through the API
// of a plane without scheduler or controllers.
//
// The memory target is on the plane's peak RSS as the kernel counts it
// (VmHWM), which includes the pages of badger's files that the plane has
// mapped; the peak of its anonymous RSS (its own heap and stacks, sampled
// every 100ms) is reported next to it. The plane runs with the product's
// default soft memory limit unless -memlimit says otherwise.
//
// The simulated nodes heartbeat as a Kubernetes cluster of that size would:
// each renews a 10 s Lease every 2.5 s (real kubelets: 40 s, every 10 s).
// mini's default, a 5 s Lease renewed every second, is sized for a handful
// of nodes on one machine, where a lost node should be noticed in seconds;
// for 1,000 nodes it would be 1,000 writes per second of heartbeats alone,
// a load no real cluster of 1,000 nodes puts on its API server.
//
// Run it through scripts/bench-scale.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

type config struct {
	nodes, deployments, replicas, runs, workers int
	mode, memLimit, maxInFlight                 string
	timeout                                     time.Duration
	cpuProfile, simProfile, memProfile          string
	skipBaseline                                bool
}

func main() {
	if dir := os.Getenv(envPlaneDir); dir != "" {
		runPlaneChild(dir)
		return
	}
	var cfg config
	flag.IntVar(&cfg.nodes, "nodes", 1000, "simulated nodes")
	flag.IntVar(&cfg.deployments, "deployments", 300, "Deployments (or groups of bare pods)")
	flag.IntVar(&cfg.replicas, "replicas", 100, "replicas per Deployment")
	flag.IntVar(&cfg.runs, "runs", 1, "runs (medians are reported)")
	flag.IntVar(&cfg.workers, "workers", 32, "concurrent creates of the workload and the baseline")
	flag.StringVar(&cfg.mode, "mode", "deployments", "workload: deployments, or pods (bare pods: scheduler and nodes only)")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up a run after this long")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the control plane's CPU profile of the last run here")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write the control plane's heap profile at the end of the last run here")
	flag.StringVar(&cfg.simProfile, "simprofile", "", "write this process's (simulated nodes') CPU profile of the last run here")
	flag.StringVar(&cfg.memLimit, "memlimit", "", "the control plane's --memory-limit (e.g. 700Mi, none; default: the product's default, or GOMEMLIMIT)")
	flag.StringVar(&cfg.maxInFlight, "max-inflight", "", "the control plane's --max-inflight (default: the product's default; negative: no bound)")
	flag.BoolVar(&cfg.skipBaseline, "skip-baseline", false, "do not measure the baseline")
	flag.Parse()
	if cfg.mode != "deployments" && cfg.mode != "pods" {
		fmt.Fprintf(os.Stderr, "-mode must be deployments or pods, not %q\n", cfg.mode)
		os.Exit(2)
	}
	total := cfg.deployments * cfg.replicas
	fmt.Printf("mini scale benchmark: %d simulated nodes, %d %s × %d = %d pods, GOMAXPROCS %d\n",
		cfg.nodes, cfg.deployments, cfg.mode, cfg.replicas, total, runtime.GOMAXPROCS(0))
	var results []result
	for i := 1; i <= cfg.runs; i++ {
		last := i == cfg.runs
		r, err := runOnce(context.Background(), cfg, last)
		if err != nil {
			fmt.Fprintf(os.Stderr, "run %d: %v\n", i, err)
			os.Exit(1)
		}
		fmt.Printf("run %d: %s\n", i, r)
		results = append(results, r)
	}
	if len(results) > 1 {
		fmt.Printf("median of %d runs: %s\n", len(results), median(results))
	}
	m := median(results)
	fmt.Printf("targets: apply→Running %s ≤ 60s %s; mutating p99 %s ≤ 100ms %s; peak RSS (VmHWM) %d MiB ≤ 1024 MiB %s\n",
		m.total.Round(time.Millisecond), verdict(m.total <= time.Minute), m.p99, verdict(m.p99 <= 100*time.Millisecond),
		m.rss>>20, verdict(m.rss <= 1<<30))
}

func verdict(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(MISSED)"
}

// result is what one run measured.
type result struct {
	pods        int
	nodesReady  time.Duration // registering the nodes until all Ready
	baseline    time.Duration // creating the pods directly
	total       time.Duration // apply until all Running
	scheduled   time.Duration // apply until all bound
	probeCount  int
	p50, p99, m time.Duration
	rss, anon   int64 // peak RSS (VmHWM) and peak sampled anonymous RSS
	// CPU used from apply to all Running by the control plane and by this
	// process (simulated nodes, workload, watch, probe), and the machine's
	// load average at the end: on a shared machine the wall times above
	// depend on what else runs; the CPU times much less.
	planeCPU, selfCPU time.Duration
	load              string
}

func (r result) String() string {
	ratio := "n/a"
	if r.baseline > 0 {
		ratio = fmt.Sprintf("%.2f", r.total.Seconds()/r.baseline.Seconds())
	}
	return fmt.Sprintf("nodes Ready %s | baseline create %d pods %s (%.0f pods/s) | apply→all Running %s (×%s baseline) | "+
		"all bound %s (%.0f pods/s) | mutating API latency over %d probe requests p50 %s p99 %s max %s | control plane peak RSS (VmHWM) %d MiB, anon %d MiB | "+
		"CPU used meanwhile: control plane %s, nodes+workload %s (%.2f ms per pod in all) | load average %s",
		r.nodesReady.Round(time.Millisecond), r.pods, r.baseline.Round(time.Millisecond), rate(r.pods, r.baseline),
		r.total.Round(time.Millisecond), ratio, r.scheduled.Round(time.Millisecond), rate(r.pods, r.scheduled),
		r.probeCount, r.p50, r.p99, r.m, r.rss>>20, r.anon>>20, r.planeCPU.Round(10*time.Millisecond), r.selfCPU.Round(10*time.Millisecond),
		float64((r.planeCPU+r.selfCPU).Microseconds())/1000/float64(max(r.pods, 1)), r.load)
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// median takes the median of each figure separately.
func median(rs []result) result {
	pick := func(get func(result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	d := func(get func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) int64 { return int64(get(r)) }))
	}
	return result{
		pods:       rs[0].pods,
		nodesReady: d(func(r result) time.Duration { return r.nodesReady }),
		baseline:   d(func(r result) time.Duration { return r.baseline }),
		total:      d(func(r result) time.Duration { return r.total }),
		scheduled:  d(func(r result) time.Duration { return r.scheduled }),
		probeCount: int(pick(func(r result) int64 { return int64(r.probeCount) })),
		p50:        d(func(r result) time.Duration { return r.p50 }),
		p99:        d(func(r result) time.Duration { return r.p99 }),
		m:          d(func(r result) time.Duration { return r.m }),
		rss:        pick(func(r result) int64 { return r.rss }),
		anon:       pick(func(r result) int64 { return r.anon }),
		planeCPU:   d(func(r result) time.Duration { return r.planeCPU }),
		selfCPU:    d(func(r result) time.Duration { return r.selfCPU }),
		load:       "-",
	}
}
