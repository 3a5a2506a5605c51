package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/internal/testimage"
)

// netManifest: the echo Deployment (6 replicas) behind NodePort 30080, and
// a one-pod StatefulSet web behind the headless service web (named port
// http for SRV). %[1]s is the echo image.
const netManifest = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 6
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec: {containers: [` + netEchoContainer + `]}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [` + netEchoContainer + `]}
`

// netEchoContainer is the echo container of netManifest's pods, Ready when
// its /healthz answers.
const netEchoContainer = `{name: echo, image: "%[1]s", imagePullPolicy: IfNotPresent,
      env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}],
      ports: [{containerPort: 8080, name: http}],
      readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}}`

// netCluster is the cluster TestNetwork's steps share.
type netCluster struct {
	name, kctx string
	url        string // http://127.0.0.1:PORT: the published port, to NodePort 30080
}

// TestNetwork, on one 3-node cluster publishing a free host port to
// NodePort 30080 through the load balancer: the port reaches all 6 echo
// pods; pods reach pods on other nodes by pod IP unmasqueraded, and leave
// the pod range masqueraded; cluster DNS answers service, headless and
// StatefulSet pod names, SRV, and forwards other names upstream; when a node
// is stopped a client looping on the port barely notices and the node's
// pods come back elsewhere; a node added later becomes a backend of the
// load balancer.
func TestNetwork(t *testing.T) {
	c := newNetCluster(t)
	c.stepLoadBalancer(t)
	a, b := c.stepPodNetwork(t)
	c.stepDNS(t, a, b)
	c.stepNodeLoss(t)
	c.stepNodeJoin(t)
}

func newNetCluster(t *testing.T) *netCluster {
	name := uniqueName("e2e-net")
	port := netFreePort(t)
	c := &netCluster{name: name, kctx: "mini-" + name, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	createCluster(t, name, "--nodes", "3", "-p", fmt.Sprintf("%d:30080@loadbalancer", port))
	img := testImage(t, testimage.Echo)
	mustMini(t, "image", "load", img, "-c", name)
	kubectlApply(t, c.kctx, fmt.Sprintf(netManifest, img))
	kubectl(t, "--context", c.kctx, "rollout", "status", "deployment/echo", "--timeout=3m")
	waitFor(t, 3*time.Minute, "pod web-0 to be Ready", func() string {
		if pods := netPods(t, c.kctx, "app=web"); len(pods) != 1 || !netReady(pods[0]) {
			return "web pods:" + netDescribe(pods)
		}
		return ""
	})
	return c
}

// readyEcho returns the Ready echo pods, failing unless there are 6.
func (c *netCluster) readyEcho(t *testing.T) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	all := netPods(t, c.kctx, "app=echo")
	for _, p := range all {
		if netReady(p) {
			ready = append(ready, p)
		}
	}
	if len(ready) != 6 {
		t.Fatalf("want 6 Ready echo pods, have:%s", netDescribe(all))
	}
	return ready
}

// stepLoadBalancer: 60 requests, each on a new connection, to the published
// port are answered by every one of the 6 pods (the load balancer spreads
// over the nodes, each node's iptables over the endpoints).
func (c *netCluster) stepLoadBalancer(t *testing.T) {
	pods := c.readyEcho(t)
	seen := map[string]int{}
	for i := 0; i < 60; i++ {
		body, err := netGet(c.url + "/")
		if err != nil {
			t.Fatalf("request %d to %s: %v", i+1, c.url, err)
		}
		seen[netField(body, "pod")]++
	}
	for _, p := range pods {
		if seen[p.Name] == 0 {
			t.Errorf("60 requests to %s never reached pod %s; answers per pod: %v; pods:%s", c.url, p.Name, seen, netDescribe(pods))
		}
	}
	if len(seen) != len(pods) {
		t.Errorf("answers came from %d pods (%v), want the 6 echo pods:%s", len(seen), seen, netDescribe(pods))
	}
}

// stepPodNetwork: a pod reaches a pod on another node by pod IP and the
// receiver sees the sender's pod IP (host-gw routes, no masquerade); a
// request leaving the pod range (to a server on the cluster's Docker
// network) arrives from the sender's node IP (masqueraded). It returns the
// two pods.
func (c *netCluster) stepPodNetwork(t *testing.T) (a, b corev1.Pod) {
	pods := c.readyEcho(t)
	a = pods[0]
	i := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Spec.NodeName != a.Spec.NodeName })
	if i < 0 {
		t.Fatalf("all echo pods run on node %s; want them spread:%s", a.Spec.NodeName, netDescribe(pods))
	}
	b = pods[i]
	ans := netExec(t, c.kctx, a.Name, "get", "http://"+b.Status.PodIP+":8080/whoami")
	if netField(ans, "pod") != b.Name || netField(ans, "client") != a.Status.PodIP {
		t.Errorf("pod %s (%s on %s) GET pod %s (%s on %s): answer %q; want pod=%s and client=%s (the sender's pod IP, not masqueraded)",
			a.Name, a.Status.PodIP, a.Spec.NodeName, b.Name, b.Status.PodIP, b.Spec.NodeName, ans, b.Name, a.Status.PodIP)
	}

	gw := strings.TrimSpace(run(t, time.Minute, nil, "docker", "network", "inspect", "mini-"+c.name,
		"-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}").Stdout)
	if _, err := netip.ParseAddr(gw); err != nil {
		t.Fatalf("the gateway of Docker network mini-%s is %q, not an address", c.name, gw)
	}
	outside := netClientAddrServer(t, gw+":0")
	ans = netExec(t, c.kctx, a.Name, "get", outside)
	if got := netField(ans, "client"); got != a.Status.HostIP {
		t.Errorf("pod %s (%s on %s, node IP %s) GET %s outside the pod range: the server saw client %q; want the node IP (masqueraded)",
			a.Name, a.Status.PodIP, a.Spec.NodeName, a.Status.HostIP, outside, got)
	}
	return a, b
}

// stepDNS: in pod a, the service's full name resolves to its ClusterIP and
// its short name (search path) reaches an echo pod; SRV of the headless
// service's named port lists web-0; a name outside cluster.local is
// forwarded upstream (Docker's DNS on the cluster network knows the
// control plane container). In web-0, web-0.web resolves to its own IP.
func (c *netCluster) stepDNS(t *testing.T, a, b corev1.Pod) {
	svcIP := kubectl(t, "--context", c.kctx, "get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
	if got := netExec(t, c.kctx, a.Name, "lookup", "echo.default.svc.cluster.local"); got != svcIP {
		t.Errorf("in pod %s, echo.default.svc.cluster.local resolves to %q; want the ClusterIP %s", a.Name, got, svcIP)
	}
	ans := netExec(t, c.kctx, a.Name, "get", "http://echo/whoami")
	if !strings.HasPrefix(netField(ans, "pod"), "echo-") {
		t.Errorf("in pod %s, GET http://echo/whoami (short name, port 80) answered %q; want an echo pod", a.Name, ans)
	}
	if got, want := netExec(t, c.kctx, a.Name, "srv", "_http._tcp.web"), "web-0.web.default.svc.cluster.local. 8080"; got != want {
		t.Errorf("in pod %s, SRV _http._tcp.web is %q; want %q", a.Name, got, want)
	}
	control := "mini-" + c.name + "-control"
	ctrlIP := strings.TrimSpace(run(t, time.Minute, nil, "docker", "inspect", control,
		"-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}").Stdout)
	if got := netExec(t, c.kctx, b.Name, "lookup", control); got != ctrlIP {
		t.Errorf("in pod %s, %s (a name only Docker's DNS knows) resolves to %q; want %s, forwarded upstream", b.Name, control, got, ctrlIP)
	}
	web := netPods(t, c.kctx, "app=web")
	if len(web) != 1 || web[0].Name != "web-0" {
		t.Fatalf("want the StatefulSet's pod web-0, have:%s", netDescribe(web))
	}
	if got := netExec(t, c.kctx, "web-0", "lookup", "web-0.web"); got != web[0].Status.PodIP {
		t.Errorf("in pod web-0, web-0.web resolves to %q; want its pod IP %s", got, web[0].Status.PodIP)
	}
}

// stepNodeLoss: a client loops on the published port while a node is
// stopped (docker stop). At most netMaxLost requests fail (the load
// balancer ejects the node, the agent reports NotReady on the way out so
// its pods leave the endpoints at once, and a failed connect is retried on
// another node), and the node's echo pods come back on the other nodes
// (evicted ~10 s after it went NotReady).
func (c *netCluster) stepNodeLoss(t *testing.T) {
	victim := nodeNames(c.name, 2)[0]
	victimIP := strings.TrimPrefix(nodeStates(t, c.kctx)[victim], "True@")
	var lost, lostIPs []string
	for _, p := range c.readyEcho(t) {
		if p.Spec.NodeName == victim {
			lost, lostIPs = append(lost, p.Name), append(lostIPs, p.Status.PodIP)
		}
	}
	if len(lost) == 0 {
		t.Fatalf("no echo pod runs on %s, so stopping it would show nothing:%s", victim, netDescribe(c.readyEcho(t)))
	}

	stopLoop := netLoop(t, c.url+"/")
	stopped := time.Now()
	if r := run(t, 2*time.Minute, nil, "docker", "stop", victim); r.Code != 0 {
		t.Fatalf("docker stop %s: %s", victim, r)
	}
	t.Logf("docker stop %s took %s", victim, time.Since(stopped).Round(time.Millisecond))
	c.waitOutOfEndpoints(t, victim, lostIPs)
	c.waitPodsBack(t, victim, lost)
	netCheckLoop(t, stopLoop(), stopped, victim)
	if logs := c.lbLog(t); !strings.Contains(logs, "backend "+victimIP+":30080 removed") {
		t.Errorf("the load balancer's log does not say backend %s:30080 (node %s) was removed:\n%s", victimIP, victim, logs)
	}
}

// waitOutOfEndpoints waits until the echo endpoints hold none of ips (the
// pods of the stopped node) and fails if by then the node lifecycle has
// marked the node Unknown (its grace, 10 s, passed): the agent said
// NotReady on its way out, and that alone must take its pods out.
func (c *netCluster) waitOutOfEndpoints(t *testing.T, node string, ips []string) {
	t.Helper()
	waitFor(t, time.Minute, fmt.Sprintf("pods %v of %s to leave the endpoints of echo", ips, node), func() string {
		eps := strings.Fields(kubectl(t, "--context", c.kctx, "get", "endpoints", "echo", "-o", "jsonpath={.subsets[*].addresses[*].ip}"))
		reason := kubectl(t, "--context", c.kctx, "get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		if slices.ContainsFunc(ips, func(ip string) bool { return slices.Contains(eps, ip) }) {
			return fmt.Sprintf("endpoints %v; node Ready reason %q", eps, reason)
		}
		if reason == "NodeStatusUnknown" {
			t.Fatalf("pods %v of %s left the endpoints of echo only once the node lifecycle marked the node Unknown; want them out as soon as its agent reported NotReady", ips, node)
		}
		t.Logf("pods %v of %s are out of the endpoints of echo; the node's Ready reason is %q", ips, node, reason)
		return ""
	})
}

// waitPodsBack waits until the echo pods lost with node are gone and 6
// echo pods are Ready elsewhere.
func (c *netCluster) waitPodsBack(t *testing.T, node string, lost []string) {
	t.Helper()
	waitFor(t, 3*time.Minute, fmt.Sprintf("the echo pods of %s (%v) to come back on the other nodes", node, lost), func() string {
		pods := netPods(t, c.kctx, "app=echo")
		ready := 0
		for _, p := range pods {
			if slices.Contains(lost, p.Name) || p.Spec.NodeName == node && p.DeletionTimestamp == nil {
				return "pods:" + netDescribe(pods)
			}
			if netReady(p) {
				ready++
			}
		}
		if ready != 6 {
			return fmt.Sprintf("%d Ready; pods:%s", ready, netDescribe(pods))
		}
		return ""
	})
}

// netMaxLost is how many requests of the client loop may fail while a
// node stops.
const netMaxLost = 3

// netCheckLoop fails when more than netMaxLost attempts failed or fewer
// than 20 were answered after stopped.
func netCheckLoop(t *testing.T, attempts []netAttempt, stopped time.Time, node string) {
	t.Helper()
	var failed []string
	okAfter := 0
	for _, a := range attempts {
		switch {
		case a.err != nil:
			failed = append(failed, fmt.Sprintf("%+.2fs: %v", a.at.Sub(stopped).Seconds(), a.err))
		case a.at.After(stopped):
			okAfter++
		}
	}
	t.Logf("client loop: %d requests, %d failed, %d answered after the stop began; failures (time from docker stop): %v",
		len(attempts), len(failed), okAfter, failed)
	if len(failed) > netMaxLost || okAfter < 20 {
		t.Errorf("while %s stopped: %d of %d requests failed (want at most %d) and %d answered after the stop began (want 20 or more); failures (time from docker stop):\n  %s",
			node, len(failed), len(attempts), netMaxLost, okAfter, strings.Join(failed, "\n  "))
	}
}

// stepNodeJoin: a node added with mini node create becomes a backend of
// the load balancer once Ready, and requests to the published port enter
// the cluster through it (the echo pod sees the new node's address: its
// InternalIP, or its pod-subnet gateway for a pod on the node itself, as
// NodePort traffic is masqueraded).
func (c *netCluster) stepNodeJoin(t *testing.T) {
	lines := strings.Fields(mustMini(t, "node", "create", "-c", c.name))
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "mini-"+c.name+"-node-") {
		t.Fatalf("mini node create -c %s should print the new node's name; printed %q", c.name, lines)
	}
	node := lines[len(lines)-1]
	var ip string
	waitFor(t, 2*time.Minute, "node "+node+" to be Ready", func() string {
		st := nodeStates(t, c.kctx)[node]
		if !strings.HasPrefix(st, "True@") {
			return fmt.Sprintf("%s is %q", node, st)
		}
		ip = strings.TrimPrefix(st, "True@")
		return ""
	})
	cidr, err := netip.ParsePrefix(kubectl(t, "--context", c.kctx, "get", "node", node, "-o", "jsonpath={.spec.podCIDR}"))
	if err != nil {
		t.Fatalf("node %s's podCIDR: %v", node, err)
	}
	waitFor(t, time.Minute, "the load balancer to add "+ip+":30080", func() string {
		if logs := c.lbLog(t); !strings.Contains(logs, "backend "+ip+":30080 added") {
			return "its log:\n" + logs
		}
		return ""
	})
	var seen []string
	waitFor(t, time.Minute, "a request to "+c.url+" to enter the cluster at "+node+" ("+ip+", pods "+cidr.String()+")", func() string {
		body, err := netGet(c.url + "/whoami")
		if err != nil {
			return err.Error()
		}
		client := netField(body, "client")
		if addr, err := netip.ParseAddr(client); err == nil && (client == ip || cidr.Contains(addr)) {
			t.Logf("through the load balancer, %s answered %q: the request entered at %s", netField(body, "pod"), client, node)
			return ""
		}
		seen = append(seen, client)
		return fmt.Sprintf("clients seen so far: %v", seen)
	})
}

// lbLog returns the load balancer container's log.
func (c *netCluster) lbLog(t *testing.T) string {
	t.Helper()
	r := run(t, time.Minute, nil, "docker", "logs", "mini-"+c.name+"-lb")
	return r.Stdout + r.Stderr
}
