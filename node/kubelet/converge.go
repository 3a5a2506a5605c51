package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/node/runtime"
)

// volumeRefresh is how often configMap, secret and downwardAPI volumes are
// rewritten from the API while a pod runs.
const volumeRefresh = 15 * time.Second

// converge acts once towards the pod's spec: a running sandbox, then the
// init containers one by one, then every container, each (re)started as its
// restart policy and back-off allow. It returns when to look again (0: at
// the next resync) and whether it changed anything in Docker.
func (w *worker) converge(ctx context.Context, pod *corev1.Pod, st *runtime.PodState) (time.Duration, bool) {
	phase := computeStatus(w.view(pod, st, false)).Phase
	if done(pod.Status.Phase) || done(phase) {
		return 0, w.stopAll(ctx, pod, st, 0)
	}
	sb := st.Sandbox()
	changed := false
	if sb == nil || !sb.Running() {
		if sb = w.newSandbox(ctx, pod, st); sb == nil {
			return 2 * time.Second, true
		}
		changed = true
	}
	env := w.envContext(pod, sb)
	err := w.podFiles(pod, env.podIP)
	if err == nil && (w.vols == nil || w.k.clk.Since(w.volsAt) > volumeRefresh) {
		var vols map[string]volume
		if vols, err = w.setupVolumes(ctx, pod, env); err == nil {
			w.vols, w.volsAt = vols, w.k.clk.Now()
		}
	}
	if err != nil {
		w.k.events.podEvent(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
		return 5 * time.Second, changed
	}
	a := &actor{w: w, pod: pod, st: st, sb: sb, env: env}
	next, ch, blocked := a.initContainers(ctx)
	changed = changed || ch
	if blocked {
		return next, changed
	}
	for i := range pod.Spec.Containers {
		n, ch := a.container(ctx, &pod.Spec.Containers[i], runtime.KindRegular)
		changed = changed || ch
		if n > 0 && (next == 0 || n < next) {
			next = n
		}
	}
	return next, changed
}

func done(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// newSandbox replaces a missing or dead sandbox. The containers of the old
// one lost their network and are stopped; they restart in the new one.
func (w *worker) newSandbox(ctx context.Context, pod *corev1.Pod, st *runtime.PodState) *runtime.Container {
	attempt := 0
	if old := st.Sandbox(); old != nil {
		attempt = old.Attempt + 1
		if old.Inspect.State != nil && old.Inspect.State.StartedAt != "" && !old.StartedAt().IsZero() {
			w.k.events.podEvent(pod, corev1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		}
		w.stopAll(ctx, pod, st, 2*time.Second)
	}
	sb, err := w.k.rt.CreateSandbox(ctx, pod, attempt, w.k.cfg.ClusterDomain)
	if err != nil {
		if !errdefs.IsConflict(err) {
			w.k.events.podEvent(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		}
		return nil
	}
	return sb
}

// stopAll stops every running container of the pod and its sandbox.
func (w *worker) stopAll(ctx context.Context, pod *corev1.Pod, st *runtime.PodState, grace time.Duration) bool {
	stopped := false
	for _, c := range st.All() {
		if c.Running() && c.Kind != runtime.KindSandbox {
			w.k.rt.Stop(ctx, c.ID, grace)
			stopped = true
		}
	}
	for _, sb := range st.Sandboxes {
		if sb.Running() {
			w.k.rt.Stop(ctx, sb.ID, 0)
			stopped = true
		}
	}
	return stopped
}

// envContext gathers what environments and volumes are computed from.
func (w *worker) envContext(pod *corev1.Pod, sb *runtime.Container) *envContext {
	e := &envContext{pod: pod, nodeIP: w.k.cfg.NodeIP, podIP: w.k.rt.IP(sb), nodeCPU: w.k.nodeCPU, nodeMemory: w.k.nodeMemory,
		objs: &objects{get: w.getObject, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}}
	if pod.Spec.HostNetwork {
		e.podIP = w.k.cfg.NodeIP
	}
	for _, o := range w.k.services.GetStore().List() {
		if s := o.(*corev1.Service); s.Namespace == pod.Namespace || (s.Namespace == "default" && s.Name == "kubernetes") {
			e.services = append(e.services, s)
		}
	}
	return e
}

// podFiles writes the pod's /etc/hosts and /etc/resolv.conf.
func (w *worker) podFiles(pod *corev1.Pod, podIP string) error {
	dir := w.k.podDir(pod.UID)
	hosts := hostsFile(pod, podIP, w.k.cfg.ClusterDomain)
	if pod.Spec.HostNetwork {
		hosts = append(append([]byte{}, w.k.nodeHosts...), hostAliasesOnly(pod)...)
	}
	if err := writeIfChanged(filepath.Join(dir, "etc-hosts"), hosts, 0o644); err != nil {
		return fmt.Errorf("writing /etc/hosts: %w", err)
	}
	rc := resolvConf(pod, w.k.cfg.ClusterDNS, w.k.cfg.ClusterDomain, w.k.nodeResolv)
	if err := writeIfChanged(filepath.Join(dir, "resolv.conf"), rc, 0o644); err != nil {
		return fmt.Errorf("writing /etc/resolv.conf: %w", err)
	}
	return nil
}

// actor acts on the containers of one pod during one sync.
type actor struct {
	w   *worker
	pod *corev1.Pod
	st  *runtime.PodState
	sb  *runtime.Container
	env *envContext
}

// initContainers runs the init containers in order: each must exit 0
// before the next starts. blocked says the regular containers must wait.
// A new sandbox runs them all again.
func (a *actor) initContainers(ctx context.Context) (next time.Duration, changed, blocked bool) {
	for i := range a.pod.Spec.InitContainers {
		c := &a.pod.Spec.InitContainers[i]
		l := a.st.Latest(c.Name)
		if l != nil && l.SandboxID == a.sb.ID && l.Finished() && l.ExitCode() == 0 {
			continue
		}
		if l != nil && l.SandboxID != a.sb.ID && !l.Running() {
			next, changed = a.start(ctx, c, runtime.KindInit, l.Attempt+1, l.BackOffBase)
			return next, changed, true
		}
		next, changed = a.container(ctx, c, runtime.KindInit)
		return next, changed, true
	}
	return 0, false, false
}

// container converges one container: started when missing, restarted (after
// back-off) when it exited and the restart policy says so, killed when a
// probe declared it dead or its spec changed.
func (a *actor) container(ctx context.Context, c *corev1.Container, kind runtime.Kind) (time.Duration, bool) {
	w := a.w
	l := a.st.Latest(c.Name)
	ev := w.k.events.forContainer(a.pod, c.Name)
	switch {
	case l == nil:
		return a.start(ctx, c, kind, 0, 0)
	case l.Running():
		if l.SandboxID != a.sb.ID {
			w.k.rt.Stop(ctx, l.ID, 2*time.Second) // left over from a dead sandbox
			return 0, true
		}
		if t, dead := w.probes.deadBy(l.ID, c); dead {
			ev(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.Name, lower(t.String()))
			w.k.rt.Stop(ctx, l.ID, podGrace(a.pod))
			return 0, true
		}
		if l.Hash != hashOf(c) {
			ev(corev1.EventTypeNormal, "Killing", "Container %s definition changed, will be restarted", c.Name)
			w.k.rt.Stop(ctx, l.ID, podGrace(a.pod))
			return 0, true
		}
		delete(w.waiting, c.Name)
		return 0, false
	case !l.Finished(): // created but never started (an agent stopped in between)
		if err := w.k.rt.StartContainer(ctx, l.ID); err != nil {
			ev(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		}
		return 0, true
	}
	if !restarts(a.pod, kind, l.ExitCode()) {
		delete(w.waiting, c.Name)
		return 0, false
	}
	ran := l.ExitedAt().Sub(l.StartedAt())
	delay, base := restartDelay(l.Attempt, l.BackOffBase, ran, w.k.cfg.BackOffInitial, w.k.cfg.BackOffMax)
	if wait := l.ExitedAt().Add(delay).Sub(w.k.clk.Now()); wait > 0 && l.SandboxID == a.sb.ID {
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %v restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, a.pod.Name, a.pod.Namespace, a.pod.UID)}
		ev(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, a.pod.Name, a.pod.Namespace, a.pod.UID)
		return wait, false
	}
	return a.start(ctx, c, kind, l.Attempt+1, base)
}

// restarts says whether a container that exited with code is started again.
func restarts(pod *corev1.Pod, kind runtime.Kind, code int32) bool {
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return kind != runtime.KindInit || code != 0 // init containers that succeeded are done
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// start creates and starts one attempt of a container: image, environment
// and mounts first; any failure becomes the container's waiting state.
func (a *actor) start(ctx context.Context, c *corev1.Container, kind runtime.Kind, attempt, base int) (time.Duration, bool) {
	w := a.w
	if waiting, retry := w.k.images.ensure(ctx, a.pod, c); waiting != nil {
		w.waiting[c.Name] = waiting
		return retry, false
	}
	ev := w.k.events.forContainer(a.pod, c.Name)
	fail := func(reason string, err error) (time.Duration, bool) {
		ev(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
		return 2 * time.Second, false
	}
	env, err := a.env.env(ctx, c)
	if err != nil {
		return fail(reasonCreateConfigError, err)
	}
	term := w.termFile(a.pod, c.Name, attempt)
	if err := writeIfChanged(term, nil, 0o666); err != nil {
		return fail(reasonCreateError, err)
	}
	os.Chmod(term, 0o666)
	mounts, err := w.containerMounts(a.pod, c, w.vols, env, term)
	if err != nil {
		return fail(reasonCreateConfigError, err)
	}
	req := &runtime.ContainerRequest{Pod: a.pod, Container: c, Kind: kind, Attempt: attempt, BackOffBase: base, SandboxID: a.sb.ID,
		Env: env, Command: expandAll(c.Command, env), Args: expandAll(c.Args, env), Mounts: mounts, Hash: hashOf(c)}
	id, err := w.k.rt.CreateContainer(ctx, req)
	if errdefs.IsConflict(err) {
		return 0, true // this attempt exists already: look again
	} else if err != nil {
		return fail(reasonCreateError, err)
	}
	ev(corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := w.k.rt.StartContainer(ctx, id); err != nil {
		ev(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return 0, true
	}
	ev(corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	delete(w.waiting, c.Name)
	if h := c.Lifecycle; h != nil && h.PostStart != nil {
		if err := w.runHook(ctx, a.pod, c, h.PostStart, id, a.env.podIP, 30*time.Second); err != nil {
			ev(corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			w.k.rt.Stop(ctx, id, podGrace(a.pod))
		}
	}
	return 0, true
}
