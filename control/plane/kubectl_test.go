package plane_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

const shopNamespace = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
`

// shopObjects is the app part of the multi-document manifest; replicas is
// substituted.
const shopObjects = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: REPLICAS
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
`

func shopManifest(replicas string) string {
	return shopNamespace + strings.ReplaceAll(shopObjects, "REPLICAS", replicas)
}

func getDeployment(t *testing.T, c *client.Client) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := c.Get(context.Background(), "shop", "web", d); err != nil {
		t.Fatalf("get deployment shop/web: %v", err)
	}
	return d
}

// wantLines fails unless every pattern matches some line of out.
func wantLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		found := false
		for _, l := range lines {
			if re.MatchString(l) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no line matches %q; output:\n%s", what, p, out)
		}
	}
}

// TestKubectl drives the API server with stock kubectl and only the admin
// kubeconfig, as a user would, through the life of a small app.
func TestKubectl(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	k := newKubectl(t, env.Kubeconfig)
	c := env.Client
	ctx := context.Background()
	manifest := k.writeFile("app.yaml", shopManifest("2"))

	t.Run("apply creates every document", func(t *testing.T) {
		out := k.ok("apply", "-f", manifest)
		wantLines(t, "apply", out, `^namespace/shop created$`, `^configmap/web-config created$`,
			`^deployment.apps/web created$`, `^service/web created$`)
		d := getDeployment(t, c)
		if *d.Spec.Replicas != 2 || d.Generation != 1 {
			t.Errorf("deployment after create: replicas %d generation %d, want 2 and 1", *d.Spec.Replicas, d.Generation)
		}
	})

	t.Run("apply again with a changed field configures", func(t *testing.T) {
		before := getDeployment(t, c)
		svcBefore, cmBefore := &corev1.Service{}, &corev1.ConfigMap{}
		if err := c.Get(ctx, "shop", "web", svcBefore); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, "shop", "web-config", cmBefore); err != nil {
			t.Fatal(err)
		}
		k.writeFile("app.yaml", shopManifest("3"))
		out := k.ok("apply", "-f", manifest)
		wantLines(t, "second apply", out, `^deployment.apps/web configured$`, `^service/web unchanged$`,
			`^configmap/web-config unchanged$`, `^namespace/shop unchanged$`)
		d := getDeployment(t, c)
		if *d.Spec.Replicas != 3 {
			t.Errorf("replicas after apply: %d, want 3", *d.Spec.Replicas)
		}
		if d.Generation != before.Generation+1 {
			t.Errorf("generation after a spec change: %d, want %d", d.Generation, before.Generation+1)
		}
		if d.UID != before.UID || d.Labels["app"] != "web" || d.Spec.Selector.MatchLabels["app"] != "web" ||
			d.Spec.Template.Spec.Containers[0].Image != "nginx:1.25" || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
			!d.CreationTimestamp.Equal(&before.CreationTimestamp) {
			t.Errorf("apply changed fields it did not touch:\nbefore %+v\nafter  %+v", before, d)
		}
		svc, cm := &corev1.Service{}, &corev1.ConfigMap{}
		c.Get(ctx, "shop", "web", svc)
		c.Get(ctx, "shop", "web-config", cm)
		if svc.ResourceVersion != svcBefore.ResourceVersion || svc.Spec.ClusterIP != svcBefore.Spec.ClusterIP || svc.Spec.ClusterIP == "" {
			t.Errorf("unchanged service was rewritten: resourceVersion %s→%s, clusterIP %q→%q",
				svcBefore.ResourceVersion, svc.ResourceVersion, svcBefore.Spec.ClusterIP, svc.Spec.ClusterIP)
		}
		if cm.ResourceVersion != cmBefore.ResourceVersion || cm.Data["greeting"] != "hello" {
			t.Errorf("unchanged configmap was rewritten: resourceVersion %s→%s, data %v", cmBefore.ResourceVersion, cm.ResourceVersion, cm.Data)
		}
	})

	t.Run("get across namespaces", func(t *testing.T) {
		out := k.ok("get", "deployments", "-A")
		wantLines(t, "get deployments -A", out, `^NAMESPACE\s+NAME\s`, `^shop\s+web\s`)
		out = k.ok("get", "namespaces")
		wantLines(t, "get namespaces", out, `^NAME\s`, `^default\s`, `^kube-system\s`, `^shop\s`)
	})

	t.Run("get -o yaml", func(t *testing.T) {
		out := k.ok("get", "deployment", "web", "-n", "shop", "-o", "yaml")
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(out), &d); err != nil {
			t.Fatalf("kubectl -o yaml output is not a Deployment: %v\n%s", err, out)
		}
		want := getDeployment(t, c)
		if d.APIVersion != "apps/v1" || d.Kind != "Deployment" || d.Name != "web" || d.Namespace != "shop" ||
			d.UID != want.UID || d.ResourceVersion != want.ResourceVersion || *d.Spec.Replicas != 3 || d.Generation != want.Generation {
			t.Errorf("kubectl -o yaml: got %s/%s %s/%s uid %s rv %s generation %d, want apps/v1/Deployment shop/web uid %s rv %s generation %d",
				d.APIVersion, d.Kind, d.Namespace, d.Name, d.UID, d.ResourceVersion, d.Generation, want.UID, want.ResourceVersion, want.Generation)
		}
	})

	t.Run("get -o wide", func(t *testing.T) {
		out := k.ok("get", "services", "-n", "shop", "-o", "wide")
		wantLines(t, "get services -o wide", out, `^NAME\s`, `^web\s`)
	})

	t.Run("scale", func(t *testing.T) {
		gen := getDeployment(t, c).Generation
		out := k.ok("scale", "deployment/web", "-n", "shop", "--replicas=5")
		wantLines(t, "scale", out, `^deployment.apps/web scaled$`)
		d := getDeployment(t, c)
		if *d.Spec.Replicas != 5 || d.Generation != gen+1 {
			t.Errorf("after scale: replicas %d generation %d, want 5 and %d", *d.Spec.Replicas, d.Generation, gen+1)
		}
	})

	t.Run("label and annotate", func(t *testing.T) {
		wantLines(t, "label", k.ok("label", "deployment", "web", "-n", "shop", "tier=frontend"), `^deployment.apps/web labeled$`)
		wantLines(t, "annotate", k.ok("annotate", "deployment", "web", "-n", "shop", "owner=team-a"), `^deployment.apps/web annotated$`)
		d := getDeployment(t, c)
		if d.Labels["tier"] != "frontend" || d.Labels["app"] != "web" || d.Annotations["owner"] != "team-a" {
			t.Errorf("after label and annotate: labels %v annotations %v", d.Labels, d.Annotations)
		}
		out := k.ok("get", "deployments", "-A", "-l", "tier=frontend")
		wantLines(t, "get -l tier=frontend", out, `^shop\s+web\s`)
		_, errOut, code := k.run("get", "deployments", "-A", "-l", "tier=backend")
		if code != 0 || !strings.Contains(errOut, "No resources found") {
			t.Errorf("get -l tier=backend: exit %d, stderr %q; want 0 and \"No resources found\"", code, errOut)
		}
	})

	t.Run("get -w prints a change made while it runs", func(t *testing.T) {
		testKubectlWatch(t, k, c)
	})

	t.Run("get a missing pod", func(t *testing.T) {
		out, errOut, code := k.run("get", "pod", "nope")
		if code != 1 || !strings.Contains(errOut, `Error from server (NotFound): pods "nope" not found`) {
			t.Errorf("kubectl get pod nope: exit %d, stdout %q, stderr %q; want exit 1 and the NotFound message", code, out, errOut)
		}
	})

	t.Run("invalid manifests name the field", func(t *testing.T) {
		cases := []struct{ name, manifest, want string }{
			{"bad name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n",
				`metadata.name: Invalid value: "Bad_Name"`},
			{"wrong type", strings.Replace(strings.Split(shopObjects, "---\n")[2], "REPLICAS", "three", 1),
				`spec.replicas`},
			{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: shop\ndata:\n  a: b\nbogusField: 1\n",
				`unknown field "bogusField"`},
			{"unknown nested field", strings.NewReplacer("REPLICAS", "1", "image: nginx:1.25", "image: nginx:1.25\n        imagePullPolcy: Always").Replace(strings.Split(shopObjects, "---\n")[2]),
				`unknown field "spec.template.spec.containers[0].imagePullPolcy"`},
		}
		for _, tc := range cases {
			rev := env.Plane.Store.Rev()
			p := k.writeFile("bad.yaml", strings.Replace(tc.manifest, "name: web\n", "name: web-bad\n", 1))
			out, errOut, code := k.run("apply", "-f", p)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s: kubectl apply exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.name, code, out, errOut, tc.want)
			}
			if got := env.Plane.Store.Rev(); got != rev {
				t.Errorf("%s: a refused apply wrote to the store (revision %d → %d)", tc.name, rev, got)
			}
		}
	})

	t.Run("api-resources lists every resource", func(t *testing.T) {
		testAPIResources(t, k, env)
	})

	t.Run("printer columns are Kubernetes's", func(t *testing.T) {
		testPrinterColumns(t, k, c)
	})

	t.Run("delete -f returns", func(t *testing.T) {
		objs := k.writeFile("objects.yaml", strings.ReplaceAll(shopObjects, "REPLICAS", "3"))
		start := time.Now()
		out := k.ok("delete", "-f", objs)
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("kubectl delete -f took %s", d)
		}
		wantLines(t, "delete -f", out, `^configmap "web-config" deleted`, `^deployment.apps "web" deleted`, `^service "web" deleted`)
		for _, o := range []runtime.Object{&corev1.ConfigMap{}, &appsv1.Deployment{}, &corev1.Service{}} {
			name := "web"
			if _, ok := o.(*corev1.ConfigMap); ok {
				name = "web-config"
			}
			if err := c.Get(ctx, "shop", name, o); !apierrors.IsNotFound(err) {
				t.Errorf("%T shop/%s after kubectl delete: err %v, want NotFound", o, name, err)
			}
		}
	})

	t.Run("deleting the namespace makes it Terminating", func(t *testing.T) {
		out := k.ok("delete", "namespace", "shop", "--wait=false")
		wantLines(t, "delete namespace", out, `^namespace "shop" deleted`)
		phase := k.ok("get", "namespace", "shop", "-o", "jsonpath={.status.phase}")
		if phase != "Terminating" {
			t.Errorf("namespace phase after delete: %q, want Terminating", phase)
		}
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, "", "shop", ns); err != nil || ns.DeletionTimestamp == nil {
			t.Errorf("namespace after delete: err %v, deletionTimestamp %v; want it present and marked", err, ns.DeletionTimestamp)
		}
	})
}

// testKubectlWatch runs "kubectl get -w", creates and changes an object
// while it runs, and stops it once both changes were printed.
func testKubectlWatch(t *testing.T, k *kubectl, c *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := k.command(ctx, "get", "configmaps", "-n", "shop", "-w")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	lines := readLines(stdout)
	lines.waitFor(t, regexp.MustCompile(`^web-config\s`), 30*time.Second)
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "watched", "shop"
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	lines.waitFor(t, regexp.MustCompile(`^watched\s`), 20*time.Second)
	cm.Data = map[string]string{"k": "v"}
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	lines.waitFor(t, regexp.MustCompile(`^watched\s`), 20*time.Second)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("stop kubectl get -w: %v", err)
	}
	if stderr.Len() > 0 {
		t.Errorf("kubectl get -w wrote to stderr: %s", stderr.String())
	}
}

// kubeResource is how Kubernetes itself lists a resource in
// "kubectl api-resources".
type kubeResource struct{ shortNames, apiVersion, namespaced, kind string }

var kubernetesResources = map[string]kubeResource{
	"configmaps":          {"cm", "v1", "true", "ConfigMap"},
	"endpoints":           {"ep", "v1", "true", "Endpoints"},
	"events":              {"ev", "v1", "true", "Event"},
	"namespaces":          {"ns", "v1", "false", "Namespace"},
	"nodes":               {"no", "v1", "false", "Node"},
	"pods":                {"po", "v1", "true", "Pod"},
	"secrets":             {"", "v1", "true", "Secret"},
	"serviceaccounts":     {"sa", "v1", "true", "ServiceAccount"},
	"services":            {"svc", "v1", "true", "Service"},
	"controllerrevisions": {"", "apps/v1", "true", "ControllerRevision"},
	"daemonsets":          {"ds", "apps/v1", "true", "DaemonSet"},
	"deployments":         {"deploy", "apps/v1", "true", "Deployment"},
	"replicasets":         {"rs", "apps/v1", "true", "ReplicaSet"},
	"statefulsets":        {"sts", "apps/v1", "true", "StatefulSet"},
	"jobs":                {"", "batch/v1", "true", "Job"},
	"leases":              {"", "coordination.k8s.io/v1", "true", "Lease"},
	"endpointslices":      {"", "discovery.k8s.io/v1", "true", "EndpointSlice"},
	"ingresses":           {"ing", "networking.k8s.io/v1", "true", "Ingress"},
}

func testAPIResources(t *testing.T, k *kubectl, env *plantest.Env) {
	out := k.ok("api-resources")
	rows := parseColumns(t, out)
	got := map[string]kubeResource{}
	for _, r := range rows {
		got[r["NAME"]] = kubeResource{r["SHORTNAMES"], r["APIVERSION"], r["NAMESPACED"], r["KIND"]}
	}
	for name, want := range kubernetesResources {
		if got[name] != want {
			t.Errorf("api-resources row %s: %+v, want %+v (as Kubernetes lists it)", name, got[name], want)
		}
	}
	for _, res := range env.Plane.API.Registry().Resources() {
		g, ok := got[res.Name]
		if !ok {
			t.Errorf("api-resources does not list served resource %s", res.Name)
			continue
		}
		if g.shortNames != strings.Join(res.ShortNames, ",") || g.apiVersion != res.APIVersion() || g.kind != res.Kind {
			t.Errorf("api-resources row %s: %+v, want short names %q, %s, %s", res.Name, g, strings.Join(res.ShortNames, ","), res.APIVersion(), res.Kind)
		}
	}
}

// parseColumns splits kubectl's aligned table output by the header's column
// positions, so that empty cells stay empty.
func parseColumns(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	type column struct {
		name  string
		start int
	}
	var cols []column
	for _, m := range regexp.MustCompile(`\S+`).FindAllStringIndex(header, -1) {
		cols = append(cols, column{header[m[0]:m[1]], m[0]})
	}
	var rows []map[string]string
	for _, l := range lines[1:] {
		row := map[string]string{}
		for i, c := range cols {
			end := len(l)
			if i+1 < len(cols) && cols[i+1].start < end {
				end = cols[i+1].start
			}
			if c.start < end {
				row[c.name] = strings.TrimSpace(l[c.start:end])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// testPrinterColumns compares kubectl's tables with the columns a real
// cluster prints for the same objects.
func testPrinterColumns(t *testing.T, k *kubectl, c *client.Client) {
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace = "lonely", "shop"
	pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox:1"}}
	if err := c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	if err := c.Get(context.Background(), "shop", "web", svc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		header string
		row    string
	}{
		{[]string{"get", "deployments", "-n", "shop"},
			`^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`, `^web\s+0/5\s+0\s+0\s+\d+s$`},
		{[]string{"get", "deployments", "-n", "shop", "-o", "wide"},
			`^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$`,
			`^web\s+0/5\s+0\s+0\s+\d+s\s+web\s+nginx:1.25\s+app=web$`},
		{[]string{"get", "services", "-n", "shop", "-o", "wide"},
			`^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$`,
			`^web\s+ClusterIP\s+` + regexp.QuoteMeta(svc.Spec.ClusterIP) + `\s+<none>\s+80/TCP\s+\d+s\s+app=web$`},
		{[]string{"get", "configmaps", "-A"},
			`^NAMESPACE\s+NAME\s+DATA\s+AGE$`, `^shop\s+web-config\s+1\s+\d+s$`},
		{[]string{"get", "namespaces"}, `^NAME\s+STATUS\s+AGE$`, `^shop\s+Active\s+\d+s$`},
		{[]string{"get", "pods", "-n", "shop", "-o", "wide"},
			`^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$`,
			`^lonely\s+0/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$`},
	}
	for _, tc := range cases {
		out := k.ok(tc.args...)
		wantLines(t, "kubectl "+strings.Join(tc.args, " "), out, tc.header, tc.row)
	}
	if err := c.Delete(context.Background(), &corev1.Pod{}, "shop", "lonely", nil); err != nil {
		t.Fatal(err)
	}
}
