package scheduler

import (
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// cache is the scheduler's view of nodes and of the pods that use them. It
// is kept incrementally from informer events, and from the scheduler's own
// decisions before the API confirms them: a pod the scheduler has decided
// to bind is "assumed" on its node at once, so the next decision already
// counts it even though the binding is still in flight and the informer has
// not seen it.
type cache struct {
	mu    sync.Mutex
	nodes map[string]*nodeInfo
	// order holds the nodes that have a Node object, sorted by name; the
	// scheduler scans it round-robin.
	order     []*nodeInfo
	nextStart int
	pods      map[types.UID]*podState
	// owners counts, per controller, its pods on each node (for spreading).
	// Keyed by node pointer, one lookup per node is a cheap pointer hash.
	owners map[types.UID]map[*nodeInfo]int32
	// scratch space reused by schedule (guarded by mu).
	feasible []*nodeInfo
	reasons  []string
	owned    []int
}

// podState is where the cache counts a pod.
type podState struct {
	info    *podInfo
	node    string
	assumed bool // decided by this scheduler, not yet seen bound
}

func newCache() *cache {
	return &cache{nodes: map[string]*nodeInfo{}, pods: map[types.UID]*podState{}, owners: map[types.UID]map[*nodeInfo]int32{}}
}

func (c *cache) nodeLocked(name string) *nodeInfo {
	n := c.nodes[name]
	if n == nil {
		n = newNodeInfo(name)
		c.nodes[name] = n
	}
	return n
}

// setNode adds or updates a node.
func (c *cache) setNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeLocked(node.Name)
	isNew := n.node == nil
	n.setNode(node)
	if isNew {
		i := sort.Search(len(c.order), func(i int) bool { return c.order[i].name >= node.Name })
		c.order = append(c.order, nil)
		copy(c.order[i+1:], c.order[i:])
		c.order[i] = n
	}
}

// removeNode forgets a node (pods still naming it keep a placeholder).
func (c *cache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil || n.node == nil {
		return
	}
	n.node = nil
	for i, o := range c.order {
		if o == n {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	if len(n.pods) == 0 {
		delete(c.nodes, name)
	}
}

// addPod counts a pod the API reports bound to a node (an informer add or
// update). A pod assumed earlier is confirmed.
func (c *cache) addPod(pi *podInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removePodLocked(pi.uid)
	c.placeLocked(pi, c.nodeLocked(node), false)
}

// removePod stops counting a pod (deleted, or finished).
func (c *cache) removePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removePodLocked(uid)
}

func (c *cache) removePodLocked(uid types.UID) {
	ps, ok := c.pods[uid]
	if !ok {
		return
	}
	delete(c.pods, uid)
	n := c.nodes[ps.node]
	if n == nil {
		return
	}
	n.removePod(uid)
	if o := ps.info.owner; o != "" {
		m := c.owners[o]
		if m[n]--; m[n] <= 0 {
			delete(m, n)
			if len(m) == 0 {
				delete(c.owners, o)
			}
		}
	}
	if n.node == nil && len(n.pods) == 0 {
		delete(c.nodes, ps.node)
	}
}

// assumeLocked counts pi on node before the binding is confirmed.
func (c *cache) assumeLocked(pi *podInfo, n *nodeInfo) {
	c.removePodLocked(pi.uid)
	c.placeLocked(pi, n, true)
}

// placeLocked counts pi on n.
func (c *cache) placeLocked(pi *podInfo, n *nodeInfo, assumed bool) {
	n.addPod(pi)
	c.pods[pi.uid] = &podState{info: pi, node: n.name, assumed: assumed}
	if o := pi.owner; o != "" {
		m := c.owners[o]
		if m == nil {
			m = map[*nodeInfo]int32{}
			c.owners[o] = m
		}
		m[n]++
	}
}

// forget undoes an assumption whose binding failed. A pod the informer has
// meanwhile reported bound stays counted.
func (c *cache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok && ps.assumed {
		c.removePodLocked(uid)
	}
}

// isAssumed reports whether uid is assumed and not yet confirmed.
func (c *cache) isAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}
