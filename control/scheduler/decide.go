package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// Scores, as Kubernetes's default profile weighs them: spreading the pods
// of one controller (PodTopologySpread's default constraints, weight 2)
// counts twice as much as leaving room (NodeResourcesFit LeastAllocated,
// weight 1).
const (
	maxNodeScore         = 100
	spreadWeight         = 2
	leastAllocatedWeight = 1
)

// Like kube-scheduler, a pod is not checked against every node of a big
// cluster: the scan stops once enough feasible nodes were found (all nodes
// below 100, then an adaptive percentage: 50% minus 1% per 125 nodes, at
// least 5%, at least 100 nodes). Scans continue round-robin where the
// previous pod's scan stopped, so every node gets its turn.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

func numFeasibleNodesToFind(nodes, percentage int) int {
	if nodes < minFeasibleNodesToFind || percentage >= 100 {
		return nodes
	}
	if percentage <= 0 {
		percentage = max(50-nodes/125, minFeasibleNodesPercentageToFind)
	}
	return max(nodes*percentage/100, minFeasibleNodesToFind)
}

// fitError says why a pod fits on no node.
type fitError struct {
	numNodes int
	reasons  map[string]int // reason -> number of nodes
}

// Error renders the message Kubernetes puts in the PodScheduled condition
// and the FailedScheduling event, e.g. "0/5 nodes are available: 2
// Insufficient cpu, 3 node(s) had untolerated taint {a: b}."
func (e *fitError) Error() string {
	if e.numNodes == 0 {
		return "no nodes available to schedule pods"
	}
	parts := make([]string, 0, len(e.reasons))
	for r, n := range e.reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	msg := fmt.Sprintf("0/%d nodes are available:", e.numNodes)
	if len(parts) > 0 {
		msg += " " + strings.Join(parts, ", ") + "."
	}
	return msg
}

// schedule picks a node for pi and assumes pi there. percentage overrides
// the adaptive share of nodes to find (0: adaptive).
func (c *cache) schedule(pi *podInfo, percentage int) (string, *fitError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.order)
	if n == 0 {
		return "", &fitError{}
	}
	want := numFeasibleNodesToFind(n, percentage)
	feasible := c.feasible[:0]
	var hist map[string]int
	processed := 0
	for i := 0; i < n && len(feasible) < want; i++ {
		ni := c.order[(c.nextStart+i)%n]
		processed++
		c.reasons = fits(pi, ni, c.reasons)
		if len(c.reasons) == 0 {
			feasible = append(feasible, ni)
			continue
		}
		if hist == nil {
			hist = map[string]int{}
		}
		for _, r := range c.reasons {
			hist[r]++
		}
	}
	c.nextStart = (c.nextStart + processed) % n
	defer func() { clear(feasible); c.feasible = feasible[:0] }()
	if len(feasible) == 0 {
		return "", &fitError{numNodes: n, reasons: hist}
	}
	best := pickBest(pi, feasible, c.owners[pi.owner], &c.owned)
	c.assumeLocked(pi, best)
	return best.name, nil
}

// pickBest scores the feasible nodes and returns the best. Ties go to the
// node met first in the scan, which starts where the previous pod's scan
// ended: deterministic for a given sequence of pods, and rotating. owned
// counts the pods of pi's controller per node (nil: none); counts is
// scratch space.
func pickBest(pi *podInfo, feasible []*nodeInfo, owned map[*nodeInfo]int32, counts *[]int) *nodeInfo {
	if len(feasible) == 1 {
		return feasible[0]
	}
	cs := (*counts)[:0]
	maxCount := 0
	for _, n := range feasible {
		k := 0
		if owned != nil {
			k = int(owned[n])
		}
		cs = append(cs, k)
		maxCount = max(maxCount, k)
	}
	*counts = cs
	var best *nodeInfo
	bestScore := int64(-1)
	for i, n := range feasible {
		s := spreadWeight*spreadScore(cs[i], maxCount) + leastAllocatedWeight*leastAllocatedScore(pi, n)
		if s > bestScore {
			best, bestScore = n, s
		}
	}
	return best
}

// spreadScore favours nodes with fewer pods of the same controller:
// maxNodeScore × (maxCount − count) / maxCount over the feasible nodes.
func spreadScore(count, maxCount int) int64 {
	if maxCount == 0 {
		return maxNodeScore
	}
	return int64(maxNodeScore * (maxCount - count) / maxCount)
}

// leastAllocatedScore favours nodes with more cpu and memory left after
// placing the pod (the average of both shares, 0-100).
func leastAllocatedScore(pi *podInfo, n *nodeInfo) int64 {
	cpu := leastAllocated(n.nonZero.milliCPU+pi.nonZero.milliCPU, n.alloc.milliCPU)
	mem := leastAllocated(n.nonZero.memory+pi.nonZero.memory, n.alloc.memory)
	return (cpu + mem) / 2
}

func leastAllocated(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * maxNodeScore / capacity
}
