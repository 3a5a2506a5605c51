package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minicluster/mini/control/clustertest"
	"github.com/minicluster/mini/control/plane/plantest"
)

// The verbs run in process (the cobra command, as `mini` runs it) against
// a real control plane with the scheduler, the controllers and two
// simulated nodes: everything but containers.

const echoApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  labels: {app: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: echo:1
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: http}]
`

// runningPods waits until the pods of selector are n, all Running and
// Ready and none of them in not, and returns their names.
func runningPods(t *testing.T, c *clustertest.Cluster, selector string, n int, not ...string) []string {
	t.Helper()
	var names []string
	clustertest.WaitFor(t, 30*time.Second, "pods "+selector+" Running", func() (bool, string) {
		pods := c.Pods(t, "default", selector)
		names = nil
		for _, p := range pods {
			if p.DeletionTimestamp == nil && clustertest.PodReady(&p) && !slices.Contains(not, p.Name) {
				names = append(names, p.Name)
			}
		}
		return len(names) == n && len(pods) == n, clustertest.Summary(pods)
	})
	slices.Sort(names)
	return names
}

func wantCode(t *testing.T, r cliResult, code int, stderr string, what string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.err, stderr) {
		t.Errorf("%s: want exit %d and stderr containing %q, got %s", what, code, stderr, r)
	}
}

func TestVerbsInProcess(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 2})
	kc := c.Kubeconfig

	// apply: created, then unchanged, then configured.
	r := kube(t, kc, echoApp, "apply", "-f", "-")
	if r.code != 0 || r.out != "deployment.apps/echo created\nservice/echo created\n" {
		t.Fatalf("first apply: %s", r)
	}
	if out := mustKube(t, kc, "apply", "-f", writeFile(t, "app.yaml", echoApp)); out != "deployment.apps/echo unchanged\nservice/echo unchanged\n" {
		t.Errorf("second apply printed %q", out)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "nested"), 0o755)
	os.WriteFile(filepath.Join(dir, "nested", "app.yaml"), []byte(strings.Replace(echoApp, "replicas: 2", "replicas: 3", 1)), 0o644)
	wantCode(t, kube(t, kc, "", "apply", "-f", dir), ExitError, "no objects found in "+dir, "apply of a directory without -R (its manifests are in a subdirectory)")
	if out := mustKube(t, kc, "apply", "-R", "-f", dir); out != "deployment.apps/echo configured\nservice/echo unchanged\n" {
		t.Errorf("apply -R printed %q", out)
	}
	pods := runningPods(t, c, "app=echo", 3)

	t.Run("apply errors", func(t *testing.T) { testApplyErrors(t, kc) })
	t.Run("get", func(t *testing.T) { testGet(t, kc, pods) })
	t.Run("describe", func(t *testing.T) { testDescribe(t, kc, pods) })
	t.Run("scale", func(t *testing.T) {
		if out := mustKube(t, kc, "scale", "deploy/echo", "--replicas", "2"); out != "deployment.apps/echo scaled\n" {
			t.Errorf("scale printed %q", out)
		}
		runningPods(t, c, "app=echo", 2)
		wantCode(t, kube(t, kc, "", "scale", "deploy/echo", "--replicas", "4", "--current-replicas", "3"), ExitError, "expected replicas of deployment.apps/echo to be 3, was 2", "scale with a wrong --current-replicas")
		wantCode(t, kube(t, kc, "", "scale", "svc/echo", "--replicas", "4"), ExitUsage, "cannot be scaled", "scale a service")
		wantCode(t, kube(t, kc, "", "scale", "deploy/nope", "--replicas", "1"), ExitNotFound, `"nope" not found`, "scale a missing deployment")
	})
	t.Run("get -w shows a rollout", func(t *testing.T) { testGetWatch(t, c, kc) })
	t.Run("rollout", func(t *testing.T) { testRollout(t, c, kc) })
	t.Run("delete", func(t *testing.T) { testDelete(t, c, kc) })
}

func testApplyErrors(t *testing.T, kc string) {
	bad := writeFile(t, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n")
	wantCode(t, kube(t, kc, "", "apply", "-f", bad), ExitUsage, bad+":9: malformed YAML", "malformed YAML")
	unknown := writeFile(t, "unknown.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
	wantCode(t, kube(t, kc, "", "apply", "-f", unknown), ExitUsage, unknown+":1: unknown kind \"Widget\"", "unknown kind")
	wantCode(t, kube(t, kc, "", "apply", "-f", "/nonexistent/app.yaml"), ExitError, `"/nonexistent/app.yaml" does not exist`, "missing file")
	wantCode(t, kube(t, kc, "", "apply"), ExitUsage, "must specify -f", "apply without -f")
	ns := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n"
	wantCode(t, kube(t, kc, ns, "apply", "-f", "-", "-n", "default"), ExitUsage, `namespace from the provided object "other" does not match the namespace "default"`, "namespace mismatch")
	wantCode(t, kube(t, kc, ns, "apply", "-f", "-"), ExitNotFound, `namespaces "other" not found`, "apply into a missing namespace")
}

func testGet(t *testing.T, kc string, pods []string) {
	out := mustKube(t, kc, "get", "pods")
	if h := header(out); !slices.Equal(h, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
		t.Errorf("get pods header %q\n%s", h, out)
	}
	if got := column(out, "NAME", "echo-"); !slices.Equal(got, pods) {
		t.Errorf("get pods names %q, want %q", got, pods)
	}
	if got := column(out, "STATUS", "echo-"); strings.Join(got, " ") != "Running Running Running" {
		t.Errorf("get pods status %q", got)
	}
	wide := mustKube(t, kc, "get", "po", "-o", "wide")
	if h := strings.Join(header(wide), " "); h != "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES" {
		t.Errorf("get pods -o wide header %q", h)
	}
	for _, n := range column(wide, "NODE", "echo-") {
		if n != "node-0" && n != "node-1" {
			t.Errorf("-o wide NODE %q, want node-0 or node-1\n%s", n, wide)
		}
	}
	multi := mustKube(t, kc, "get", "deploy,svc")
	if !strings.Contains(multi, "deployment.apps/echo   3/3") || !strings.Contains(multi, "\n\nNAME           TYPE        CLUSTER-IP") || !strings.Contains(multi, "service/echo   ClusterIP") {
		t.Errorf("get deploy,svc:\n%s", multi)
	}
	all := mustKube(t, kc, "get", "all", "-A")
	for _, want := range []string{"NAMESPACE   NAME", "default     pod/" + pods[0], "default     service/echo", "default     deployment.apps/echo", "default     replicaset.apps/echo-"} {
		if !strings.Contains(all, want) {
			t.Errorf("get all -A lacks %q:\n%s", want, all)
		}
	}
	if out := mustKube(t, kc, "get", "deployments.apps", "-o", "name"); out != "deployment.apps/echo\n" {
		t.Errorf("-o name printed %q", out)
	}
	var d appsv1.Deployment
	if err := json.Unmarshal([]byte(mustKube(t, kc, "get", "Deployment", "echo", "-o", "json")), &d); err != nil || d.Kind != "Deployment" || d.Name != "echo" || *d.Spec.Replicas != 3 {
		t.Errorf("-o json: %v %+v", err, d.TypeMeta)
	}
	list := mustKube(t, kc, "get", "svc", "-o", "yaml")
	if !strings.HasPrefix(list, "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n") || !strings.Contains(list, "kind: List\n") {
		t.Errorf("-o yaml of a list:\n%s", list)
	}
	if out := mustKube(t, kc, "get", "no"); len(column(out, "STATUS", "node-")) != 2 {
		t.Errorf("get no:\n%s", out)
	}
	if out := mustKube(t, kc, "get", "ns", "default", "kube-system"); len(strings.Split(strings.TrimSpace(out), "\n")) != 3 {
		t.Errorf("get ns default kube-system:\n%s", out)
	}
	wantCode(t, kube(t, kc, "", "get", "pods", "-l", "app=nothing"), 0, "No resources found in default namespace.", "empty listing")
	wantCode(t, kube(t, kc, "", "get", "widgets"), ExitUsage, `the server doesn't have a resource type "widgets"`, "unknown kind")
	wantCode(t, kube(t, kc, "", "get", "pod", "nope"), ExitNotFound, `pods "nope" not found`, "missing object")
	wantCode(t, kube(t, kc, "", "get", "pods", "--context", "nope"), ExitNotFound, `context "nope" is not in the kubeconfig`, "unknown context")
	wantCode(t, kube(t, kc, "", "get", "pods", "-o", "table"), ExitUsage, `unknown output format "table"`, "bad -o")
	noCtx := writeFile(t, "kubeconfig", "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
	var stdout, errOut syncBuffer
	code := execCLI(t.Context(), "", &stdout, &errOut, "get", "pods", "--kubeconfig", noCtx)
	if code != ExitNotFound || !strings.Contains(errOut.String(), "no current context") {
		t.Errorf("no current context: exit %d, stderr %q", code, errOut.String())
	}
}

func testDescribe(t *testing.T, kc string, pods []string) {
	out := mustKube(t, kc, "describe", "deploy/echo")
	for _, want := range []string{"Name:                   echo\n", "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable",
		"StrategyType:           RollingUpdate", "Pod Template:", "Image:        echo:1", "NewReplicaSet:", "Events:\n", "ScalingReplicaSet"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe deploy/echo lacks %q:\n%s", want, out)
		}
	}
	out = mustKube(t, kc, "describe", "pod", pods[0])
	for _, want := range []string{"Name:             " + pods[0], "Status:           Running", "Controlled By:  ReplicaSet/echo-",
		"Containers:\n  echo:\n", "Port:           8080/TCP", "Ready:          True", "Normal  Scheduled", "Successfully assigned default/" + pods[0]} {
		if !strings.Contains(out, want) {
			t.Errorf("describe pod lacks %q:\n%s", want, out)
		}
	}
	out = mustKube(t, kc, "describe", "svc", "echo")
	if !strings.Contains(out, "TargetPort:               http/TCP") || !strings.Contains(out, ":8080,") {
		t.Errorf("describe svc:\n%s", out)
	}
	if out := mustKube(t, kc, "describe", "lease", "-n", "kube-node-lease", "node-0"); !strings.Contains(out, "Holder Identity:") || !strings.Contains(out, "API Version:  coordination.k8s.io/v1") {
		t.Errorf("describe lease (generic):\n%s", out)
	}
	wantCode(t, kube(t, kc, "", "describe", "svc", "nope"), ExitNotFound, `services "nope" not found`, "describe missing")
}

func testGetWatch(t *testing.T, c *clustertest.Cluster, kc string) {
	before := runningPods(t, c, "app=echo", 2)
	out, stop := background(t, kc, "get", "pods", "-w", "-l", "app=echo")
	clustertest.WaitFor(t, 20*time.Second, "the watch's first listing", func() (bool, string) {
		return strings.Contains(out.String(), before[1]), out.String()
	})
	if got := mustKube(t, kc, "rollout", "restart", "deployment/echo"); got != "deployment.apps/echo restarted\n" {
		t.Errorf("rollout restart printed %q", got)
	}
	after := runningPods(t, c, "app=echo", 2, before...)
	clustertest.WaitFor(t, 20*time.Second, "get -w to print the new pods", func() (bool, string) {
		s := out.String()
		return strings.Contains(s, after[0]) && strings.Contains(s, after[1]), s
	})
	res := stop()
	if res.code != 0 || !strings.HasPrefix(res.out, "NAME ") || strings.Count(res.out, "NAME ") != 1 {
		t.Errorf("get -w: want one header and exit 0 when interrupted, got %s", res)
	}
	for _, p := range append(before, after...) {
		if !regexpLine(res.out, p) {
			t.Errorf("get -w never printed %s:\n%s", p, res.out)
		}
	}
	wantCode(t, kube(t, kc, "", "get", "pods,svc", "-w"), ExitUsage, "watch (-w) follows one resource type", "watch of two kinds")
}

// regexpLine reports whether a line of out starts with name.
func regexpLine(out, name string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return true
		}
	}
	return false
}

func testRollout(t *testing.T, c *clustertest.Cluster, kc string) {
	out := mustKube(t, kc, "rollout", "status", "deploy/echo", "--timeout", "30s")
	if !strings.HasSuffix(out, "deployment \"echo\" successfully rolled out\n") {
		t.Errorf("rollout status printed %q", out)
	}
	r := kube(t, kc, strings.Replace(echoApp, "echo:1", "echo:2", 1), "apply", "-f", "-")
	if r.code != 0 {
		t.Fatal(r)
	}
	out = mustKube(t, kc, "rollout", "status", "deploy/echo", "--timeout", "30s")
	if !strings.Contains(out, "Waiting for deployment") || !strings.HasSuffix(out, "successfully rolled out\n") {
		t.Errorf("rollout status during an image change printed %q", out)
	}
	hist := mustKube(t, kc, "rollout", "history", "deploy/echo")
	if hist != "deployment.apps/echo \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n3         <none>\n\n" {
		t.Errorf("rollout history printed %q", hist)
	}
	if out := mustKube(t, kc, "rollout", "history", "deploy/echo", "--revision", "3"); !strings.Contains(out, "with revision #3") || !strings.Contains(out, "Image:        echo:2") {
		t.Errorf("history --revision 3:\n%s", out)
	}
	if out := mustKube(t, kc, "rollout", "undo", "deploy/echo", "--to-revision", "1"); out != "deployment.apps/echo rolled back\n" {
		t.Errorf("rollout undo printed %q", out)
	}
	mustKube(t, kc, "rollout", "status", "deploy/echo", "--timeout", "30s")
	var d appsv1.Deployment
	if err := c.Client.Get(t.Context(), "default", "echo", &d); err != nil || d.Spec.Template.Spec.Containers[0].Image != "echo:1" {
		t.Errorf("after undo to revision 1 the image is %q (%v), want echo:1", d.Spec.Template.Spec.Containers[0].Image, err)
	}
	wantCode(t, kube(t, kc, "", "rollout", "undo", "deploy/echo", "--to-revision", "9"), ExitNotFound, "revision 9", "undo to a missing revision")
	wantCode(t, kube(t, kc, "", "rollout", "status", "svc/echo"), ExitUsage, "not services", "rollout of a service")

	// A rollout that cannot finish: its pods fit no node.
	stuck := strings.NewReplacer("name: echo\n", "name: stuck\n", "app: echo", "app: stuck", "      containers:", "      nodeSelector: {disk: none}\n      containers:").Replace(strings.Split(echoApp, "---")[0])
	mustKubeIn(t, kc, stuck, "apply", "-f", "-")
	r = kube(t, kc, "", "rollout", "status", "deploy/stuck", "--timeout", "2s")
	if r.code != ExitError || !strings.Contains(r.err, "timed out waiting for the rollout of deployment.apps/stuck") || !strings.Contains(r.out, "0 of 2 updated replicas are available") {
		t.Errorf("rollout status of a stuck deployment: %s", r)
	}
	// A DaemonSet's history and undo come from its ControllerRevisions.
	ds := "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      containers: [{name: a, image: agent:1}]\n"
	mustKubeIn(t, kc, ds, "apply", "-f", "-")
	mustKube(t, kc, "rollout", "status", "ds/agent", "--timeout", "30s")
	mustKubeIn(t, kc, strings.Replace(ds, "agent:1", "agent:2", 1), "apply", "-f", "-")
	if out := mustKube(t, kc, "rollout", "status", "daemonset/agent", "--timeout", "30s"); !strings.HasSuffix(out, "daemon set \"agent\" successfully rolled out\n") {
		t.Errorf("ds rollout status printed %q", out)
	}
	if out := mustKube(t, kc, "rollout", "history", "ds/agent"); !strings.Contains(out, "\n1         <none>\n2         <none>\n") {
		t.Errorf("ds history printed %q", out)
	}
	mustKube(t, kc, "rollout", "undo", "ds/agent")
	var got appsv1.DaemonSet
	if err := c.Client.Get(t.Context(), "default", "agent", &got); err != nil || got.Spec.Template.Spec.Containers[0].Image != "agent:1" {
		t.Errorf("after ds undo the image is %q (%v), want agent:1", got.Spec.Template.Spec.Containers[0].Image, err)
	}
}

func mustKubeIn(t *testing.T, kc, stdin string, args ...string) string {
	t.Helper()
	r := kube(t, kc, stdin, args...)
	if r.code != 0 {
		t.Fatalf("mini %s: %s", strings.Join(args, " "), r)
	}
	return r.out
}

func testDelete(t *testing.T, c *clustertest.Cluster, kc string) {
	if out := mustKube(t, kc, "delete", "deploy", "echo", "stuck"); out != "deployment.apps \"echo\" deleted\ndeployment.apps \"stuck\" deleted\n" {
		t.Errorf("delete printed %q", out)
	}
	var d appsv1.Deployment
	if err := c.Client.Get(t.Context(), "default", "echo", &d); !apierrors.IsNotFound(err) {
		t.Errorf("delete returned while the deployment exists (%v)", err)
	}
	if out := mustKubeIn(t, kc, echoApp, "delete", "-f", "-", "--ignore-not-found"); out != "service \"echo\" deleted\n" {
		t.Errorf("delete -f printed %q", out)
	}
	wantCode(t, kube(t, kc, "", "delete", "svc", "echo"), ExitNotFound, `services "echo" not found`, "delete missing")
	wantCode(t, kube(t, kc, "", "delete", "pods"), ExitUsage, "no name was specified", "delete without names")
	mustKube(t, kc, "delete", "ds", "--all")
	clustertest.WaitFor(t, 30*time.Second, "the DaemonSet's pods to go", func() (bool, string) {
		p := c.Pods(t, "default", "app=agent")
		return len(p) == 0, clustertest.Summary(p)
	})
	mustKube(t, kc, "delete", "pods", "-l", "app=echo", "--now")
	clustertest.WaitFor(t, 30*time.Second, "get all to find nothing", func() (bool, string) {
		r := kube(t, kc, "", "get", "all")
		return r.code == 0 && r.out == "" && r.err == "No resources found in default namespace.\n", r.String()
	})
}

// Every name kubectl users type resolves against the real server's
// discovery.
func TestKubectlNamesResolve(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	s, err := (&kubeFlags{kubeconfig: env.Kubeconfig}).open()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"po": "pods", "pod": "pods", "Pod": "pods", "deploy": "deployments.apps", "rs": "replicasets.apps",
		"sts": "statefulsets.apps", "ds": "daemonsets.apps", "svc": "services", "ep": "endpoints", "no": "nodes",
		"ns": "namespaces", "cm": "configmaps", "secret": "secrets", "sa": "serviceaccounts", "job": "jobs.batch",
		"ev": "events", "ing": "ingresses.networking.k8s.io", "lease": "leases.coordination.k8s.io",
		"endpointslice": "endpointslices.discovery.k8s.io", "controllerrevisions": "controllerrevisions.apps",
		"deployments.apps": "deployments.apps", "StatefulSet": "statefulsets.apps",
	} {
		r, err := s.resolve(t.Context(), name)
		got := r.GVR().GroupResource().String()
		if err != nil || got != want {
			t.Errorf("%q resolves to %q (%v), want %q", name, got, err, want)
		}
	}
	rs, _ := s.resources(t.Context())
	all, _ := expandKinds(rs, "all")
	var names []string
	for _, r := range all {
		names = append(names, r.Resource)
	}
	if got := strings.Join(names, " "); got != "pods services daemonsets deployments replicasets statefulsets jobs" {
		t.Errorf("get all covers %q", got)
	}
	for _, r := range rs {
		if r.Resource == "deployments" && !r.HasSubresource("scale") || r.Resource == "pods" && !r.HasSubresource("exec") {
			t.Errorf("%s subresources %v", r.Resource, r.Subresources)
		}
	}
}
