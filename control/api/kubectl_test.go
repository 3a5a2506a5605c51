package api_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

// kubectl runs the installed kubectl against a real control plane.
type kubectl struct {
	t          *testing.T
	bin, kc    string
	cache, dir string
}

func newKubectl(t *testing.T) (*kubectl, *plantest.Env) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed (not on PATH); this test checks mini's tables and validation errors with the real kubectl")
	}
	env := plantest.Start(t, plantest.Options{})
	return &kubectl{t: t, bin: bin, kc: env.Kubeconfig, cache: t.TempDir(), dir: t.TempDir()}, env
}

// run returns kubectl's stdout, stderr and whether it exited 0.
func (k *kubectl) run(stdin string, args ...string) (string, string, bool) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kc, "--cache-dir", k.cache}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "HOME="+k.dir, "KUBECTL_KUBERC=false")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		k.t.Fatalf("kubectl %s: no answer within 30s", strings.Join(args, " "))
	}
	return out.String(), errb.String(), err == nil
}

// mustRun fails the test unless kubectl succeeds.
func (k *kubectl) mustRun(stdin string, args ...string) string {
	k.t.Helper()
	out, errOut, ok := k.run(stdin, args...)
	if !ok {
		k.t.Fatalf("kubectl %s failed:\n%s%s", strings.Join(args, " "), out, errOut)
	}
	return out
}

// fails runs kubectl expecting a failure whose output holds every want.
func (k *kubectl) fails(stdin string, want []string, args ...string) {
	k.t.Helper()
	out, errOut, ok := k.run(stdin, args...)
	if ok {
		k.t.Errorf("kubectl %s: want failure naming %q, it succeeded:\n%s", strings.Join(args, " "), want, out)
		return
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			k.t.Errorf("kubectl %s: want error output to contain\n  %s\ngot:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
}

const workloads = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27", ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, nodePort: 30080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1", b: "2"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {password: x}
---
apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  nodeName: n1
  containers: [{name: c, image: "busybox:1.36"}]
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {podCIDR: 10.244.1.0/24}
---
apiVersion: v1
kind: Event
metadata: {name: solo.1}
involvedObject: {kind: Pod, name: solo, namespace: default}
reason: Scheduled
type: Normal
message: Successfully assigned default/solo to n1
`

// blockHeaders returns the header line of each table kubectl printed, with
// single spaces between columns.
func blockHeaders(out string) []string {
	var hs []string
	first := true
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			first = true
			continue
		}
		if first {
			hs = append(hs, strings.Join(strings.Fields(line), " "))
			first = false
		}
	}
	return hs
}

// hasRow reports whether a line of out starts with the given cells.
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(cells) && strings.Join(f[:len(cells)], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

func setStatuses(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pod := &corev1.Pod{}
	if err := c.Get(ctx, "default", "solo", pod); err != nil {
		t.Fatalf("get pod solo: %v", err)
	}
	finished := metav1.NewTime(time.Now().Add(-30 * time.Minute))
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
	pod.Status.PodIP = "10.244.1.5"
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Ready: true, RestartCount: 3,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: finished}}}}
	if err := c.UpdateStatus(ctx, pod); err != nil {
		t.Fatalf("update status of pod solo: %v", err)
	}
	node := &corev1.Node{}
	if err := c.Get(ctx, "", "n1", node); err != nil {
		t.Fatalf("get node n1: %v", err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.3"}}
	node.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.33.0-mini", OSImage: "Debian GNU/Linux 12",
		KernelVersion: "6.1.0", ContainerRuntimeVersion: "docker://24.0.5"}
	if err := c.UpdateStatus(ctx, node); err != nil {
		t.Fatalf("update status of node n1: %v", err)
	}
}

func TestKubectlTables(t *testing.T) {
	k, env := newKubectl(t)
	k.mustRun(workloads, "apply", "-f", "-")
	setStatuses(t, env.Client)
	k.mustRun("", "cordon", "n1")

	const kinds = "pods,deploy,svc,no,ns,cm,secret,ev"
	out := k.mustRun("", "get", kinds, "-A")
	want := []string{
		"NAMESPACE NAME READY STATUS RESTARTS AGE",
		"NAMESPACE NAME READY UP-TO-DATE AVAILABLE AGE",
		"NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
		"NAMESPACE NAME STATUS ROLES AGE VERSION",
		"NAMESPACE NAME STATUS AGE",
		"NAMESPACE NAME DATA AGE",
		"NAMESPACE NAME TYPE DATA AGE",
		"NAMESPACE LAST SEEN TYPE REASON OBJECT MESSAGE",
	}
	if got := blockHeaders(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kubectl get %s -A headers:\nwant\n%s\ngot\n%s\n(output:\n%s)", kinds, strings.Join(want, "\n"), strings.Join(got, "\n"), out)
	}
	for _, row := range [][]string{
		{"default", "pod/solo", "1/1", "Running", "3", "(30m", "ago)"},
		{"default", "deployment.apps/web", "0/2", "0", "0"},
		{"default", "configmap/cfg", "2"},
		{"default", "secret/sec", "Opaque", "1"},
		{"node/n1", "Ready,SchedulingDisabled", "control-plane"},
		{"namespace/kube-system", "Active"},
	} {
		if !hasRow(out, row...) {
			t.Errorf("kubectl get %s -A: want a row starting %q in\n%s", kinds, row, out)
		}
	}
	if !strings.Contains(out, "NodePort") || !strings.Contains(out, "80:30080/TCP") || !strings.Contains(out, "pod/solo   Successfully assigned default/solo to n1") {
		t.Errorf("kubectl get %s -A: want the NodePort service 80:30080/TCP and the event for pod/solo in\n%s", kinds, out)
	}

	wide := k.mustRun("", "get", kinds, "-A", "-o", "wide")
	wantWide := []string{
		"NAMESPACE NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
		"NAMESPACE NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR",
		"NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR",
		"NAMESPACE NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME",
		"NAMESPACE NAME STATUS AGE",
		"NAMESPACE NAME DATA AGE",
		"NAMESPACE NAME TYPE DATA AGE",
		"NAMESPACE LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME",
	}
	if got := blockHeaders(wide); strings.Join(got, "\n") != strings.Join(wantWide, "\n") {
		t.Errorf("kubectl get %s -A -o wide headers:\nwant\n%s\ngot\n%s\n(output:\n%s)", kinds, strings.Join(wantWide, "\n"), strings.Join(got, "\n"), wide)
	}
	if !strings.Contains(wide, "10.244.1.5   n1") || !strings.Contains(wide, "nginx:1.27") ||
		!strings.Contains(wide, "172.18.0.3") || !strings.Contains(wide, "docker://24.0.5") {
		t.Errorf("kubectl get -o wide: want pod IP and node, deployment image, node IP and runtime in\n%s", wide)
	}
}

func TestKubectlValidationErrors(t *testing.T) {
	k, _ := newKubectl(t)
	k.fails(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: web, ports: [{containerPort: 70000}]}]
`, []string{
		`The Deployment "bad" is invalid`,
		"spec.template.metadata.labels: Invalid value",
		"`selector` does not match template `labels`",
		"spec.template.spec.containers[0].image: Required value",
		"spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
	}, "apply", "-f", "-")
	k.fails(`
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      containers: [{name: pi, image: "perl:5"}]
`, []string{`spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`}, "apply", "-f", "-")
	k.fails(`
apiVersion: v1
kind: Service
metadata: {name: nope}
spec:
  ports: [{port: 80, nodePort: 30081}]
`, []string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}, "apply", "-f", "-")

	k.fails("", []string{`The Namespace "Team_A" is invalid: metadata.name: Invalid value: "Team_A"`}, "create", "namespace", "Team_A")

	// Update rules.
	k.mustRun(workloads, "apply", "-f", "-")
	k.mustRun("", "set", "image", "deploy/web", "web=nginx:1.28")
	k.fails("", []string{"spec.selector: Invalid value", "field is immutable"},
		"patch", "deploy", "web", "-p", `{"spec":{"selector":{"matchLabels":{"app":"web","v":"2"}},"template":{"metadata":{"labels":{"v":"2"}}}}}`)
	k.mustRun("", "patch", "pod", "solo", "-p", `{"spec":{"containers":[{"name":"c","image":"busybox:1.37"}]}}`)
	k.fails("", []string{"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"},
		"patch", "pod", "solo", "-p", `{"spec":{"restartPolicy":"Never"}}`)
	k.fails("", []string{`spec.clusterIPs[0]: Invalid value: "10.96.0.99": may not change once set`},
		"patch", "svc", "web", "-p", `{"spec":{"clusterIP":"10.96.0.99"}}`)
	k.fails("", []string{"spec.podCIDRs: Forbidden"}, "patch", "node", "n1", "-p", `{"spec":{"podCIDR":"10.244.9.0/24"}}`)

	// kubectl apply of the same Service without type and nodePort: the
	// stored NodePort values are dropped, as Kubernetes does.
	k.mustRun(strings.Replace(strings.Replace(workloads, "  type: NodePort\n", "", 1), ", nodePort: 30080", "", 1), "apply", "-f", "-")
	if out := k.mustRun("", "get", "svc", "web", "--no-headers"); !hasRow(out, "web", "ClusterIP") || !strings.Contains(out, " 80/TCP ") {
		t.Errorf("after applying web as a ClusterIP service: want type ClusterIP and port 80/TCP, got %s", out)
	}
	cm := filepath.Join(k.dir, "cm.yaml")
	if err := os.WriteFile(cm, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {a: \"1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k.mustRun("", "apply", "-f", cm)
	k.fails("", []string{"data: Forbidden: field is immutable when `immutable` is set"}, "patch", "cm", "frozen", "-p", `{"data":{"a":"2"}}`)
}
