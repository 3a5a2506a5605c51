package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/node/runtime"
)

// probeType is one of a container's three probes.
type probeType int

const (
	liveness probeType = iota
	readiness
	startup
)

func (t probeType) String() string { return [...]string{"Liveness", "Readiness", "Startup"}[t] }

// result is a probe's verdict after its thresholds.
type result int8

const (
	unknown result = iota
	success
	failure
)

// thresholds turns single probe outcomes into a result, flipping only after
// successThreshold consecutive successes or failureThreshold consecutive
// failures.
type thresholds struct {
	result              result
	successes, failures int32
}

// observe records one outcome and reports whether the result changed.
func (t *thresholds) observe(ok bool, successThreshold, failureThreshold int32) bool {
	if ok {
		t.failures, t.successes = 0, t.successes+1
		if t.result != success && t.successes >= max(successThreshold, 1) {
			t.result = success
			return true
		}
		return false
	}
	t.successes, t.failures = 0, t.failures+1
	if t.result != failure && t.failures >= max(failureThreshold, 1) {
		t.result = failure
		return true
	}
	return false
}

// initialResult is a probe's result before it ran: a container is live
// until proven otherwise, but neither ready nor started.
func initialResult(t probeType) result {
	switch t {
	case liveness:
		return success
	case readiness:
		return failure
	}
	return unknown
}

// prober performs single probes.
type prober struct {
	rt   *runtime.Runtime
	http *http.Client
}

func newProber(rt *runtime.Runtime) *prober {
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true, // a probe is a fresh connection, as Kubernetes's
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	}
	return &prober{rt: rt, http: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// probe runs one probe of a container and says whether it passed, and why
// not.
func (p *prober) probe(ctx context.Context, pr *corev1.Probe, c *corev1.Container, containerID, podIP string) (bool, string) {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		return p.httpGet(ctx, pr.HTTPGet, c, podIP)
	case pr.TCPSocket != nil:
		host := pr.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := resolvePort(pr.TCPSocket.Port, c)
		if err != nil {
			return false, err.Error()
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	case pr.Exec != nil:
		var out bytes.Buffer
		code, err := p.rt.Exec(ctx, containerID, pr.Exec.Command, runtime.StreamOptions{Stdout: &out, Stderr: &out})
		switch {
		case ctx.Err() == context.DeadlineExceeded:
			return false, fmt.Sprintf("command %q timed out", strings.Join(pr.Exec.Command, " "))
		case err != nil:
			return false, err.Error()
		case code != 0:
			return false, strings.TrimSpace(out.String())
		}
		return true, ""
	case pr.GRPC != nil:
		return false, "gRPC probes are not supported by mini"
	}
	return false, "the probe has no handler"
}

func (p *prober) httpGet(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (bool, string) {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return false, err.Error()
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	full := u.String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.32")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return true, ""
}

// resolvePort turns a port number or a named container port into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal < 1 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n < 65536 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port %q in container %s", p.StrVal, c.Name)
}

// probeKey names one probe of one container attempt.
type probeKey struct {
	containerID string
	kind        probeType
}

// podProbes runs the probes of one pod's running containers.
type podProbes struct {
	p       *prober
	clk     clock.WithTicker
	changed func()                                                    // a result changed: resync the pod
	failed  func(c *corev1.Container, kind probeType, message string) // a probe failed (for events)

	mu      sync.Mutex
	results map[probeKey]result
	stops   map[probeKey]context.CancelFunc
}

func newPodProbes(p *prober, clk clock.WithTicker, changed func(), failed func(*corev1.Container, probeType, string)) *podProbes {
	return &podProbes{p: p, clk: clk, changed: changed, failed: failed,
		results: map[probeKey]result{}, stops: map[probeKey]context.CancelFunc{}}
}

func probeOf(c *corev1.Container, t probeType) *corev1.Probe {
	return [...]*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe}[t]
}

func (pp *podProbes) result(id string, t probeType) result {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if r, ok := pp.results[probeKey{id, t}]; ok {
		return r
	}
	return initialResult(t)
}

// state is what the probes say about a running container.
func (pp *podProbes) state(id string, spec *corev1.Container) probeState {
	return probeState{
		started: spec.StartupProbe == nil || pp.result(id, startup) == success,
		ready:   spec.ReadinessProbe == nil || pp.result(id, readiness) == success,
	}
}

// deadBy reports whether the liveness or the startup probe declared a
// container dead, and which.
func (pp *podProbes) deadBy(id string, spec *corev1.Container) (probeType, bool) {
	if spec.StartupProbe != nil && pp.result(id, startup) == failure {
		return startup, true
	}
	return liveness, spec.LivenessProbe != nil && pp.result(id, liveness) == failure
}

// running is one running container of the pod, as the probes need it.
type running struct {
	id        string
	spec      *corev1.Container
	startedAt time.Time
	seed      probeState // what the API status said before an agent restart
	podIP     string
}

// sync runs probes for exactly the given running containers.
func (pp *podProbes) sync(ctx context.Context, rs []running) {
	want := map[probeKey]running{}
	for _, r := range rs {
		for _, t := range []probeType{liveness, readiness, startup} {
			if probeOf(r.spec, t) != nil {
				want[probeKey{r.id, t}] = r
			}
		}
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for k, stop := range pp.stops {
		if _, ok := want[k]; !ok {
			stop()
			delete(pp.stops, k)
			delete(pp.results, k)
		}
	}
	for k, r := range want {
		if _, ok := pp.stops[k]; ok {
			continue
		}
		if (k.kind == readiness && r.seed.ready) || (k.kind == startup && r.seed.started) {
			pp.results[k] = success
		}
		wctx, cancel := context.WithCancel(ctx)
		pp.stops[k] = cancel
		go pp.run(wctx, k, r)
	}
}

// stopAll stops every probe.
func (pp *podProbes) stopAll() { pp.sync(context.Background(), nil) }

// A readiness probe that has never succeeded is tried again
// firstReadyRetry after a failure, then at doubling intervals up to
// maxReadyRetry (or its period if shorter).
const (
	firstReadyRetry = 100 * time.Millisecond
	maxReadyRetry   = time.Second
)

// run probes one container until ctx ends: first after initialDelaySeconds
// from the container's start, then every periodSeconds. Liveness and
// readiness wait for the startup probe to succeed.
//
// Unlike Kubernetes's kubelet, which waits a whole period (10 s by default)
// after a failed first readiness probe, a readiness probe that has not
// succeeded yet is also tried between periods, after 100 ms, doubling up to
// 1 s: a container is Ready about as soon as it answers. These extra tries
// only ever report a success: their failures neither count towards the
// failure threshold nor make events (the pod is not ready either way).
func (pp *podProbes) run(ctx context.Context, k probeKey, r running) {
	pr := probeOf(r.spec, k.kind)
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	if d := r.startedAt.Add(time.Duration(pr.InitialDelaySeconds) * time.Second).Sub(pp.clk.Now()); d > 0 {
		select {
		case <-ctx.Done():
			return
		case <-pp.clk.After(d):
		}
	}
	t := pp.clk.NewTicker(period)
	defer t.Stop()
	th := thresholds{result: pp.result(k.containerID, k.kind)}
	retry := time.Duration(0) // > 0: the next extra try of a readiness probe that never succeeded
	if k.kind == readiness && th.result != success {
		retry = firstReadyRetry
	}
	regular := true // this try is on the period's schedule
	for {
		if k.kind == startup || r.spec.StartupProbe == nil || pp.result(k.containerID, startup) == success {
			ok, msg := pp.p.probe(ctx, pr, r.spec, k.containerID, r.podIP)
			if ctx.Err() != nil {
				return
			}
			if regular || ok {
				pp.observe(k, r, &th, ok, msg)
			}
			if k.kind == startup && th.result == success {
				return // a startup probe stops once it succeeded
			}
			if ok {
				retry = 0
			}
		}
		var quick <-chan time.Time
		if retry > 0 && retry < period {
			quick = pp.clk.After(retry)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			regular = true
		case <-quick:
			regular, retry = false, min(2*retry, maxReadyRetry)
		}
	}
}

// observe records one regular outcome of a probe (an event when it
// failed) and resyncs the pod when the result changed.
func (pp *podProbes) observe(k probeKey, r running, th *thresholds, ok bool, msg string) {
	pr := probeOf(r.spec, k.kind)
	if !ok {
		pp.failed(r.spec, k.kind, msg)
	}
	if th.observe(ok, pr.SuccessThreshold, pr.FailureThreshold) {
		pp.mu.Lock()
		_, live := pp.stops[k]
		if live {
			pp.results[k] = th.result
		}
		pp.mu.Unlock()
		pp.changed()
	}
}
