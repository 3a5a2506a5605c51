package api

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// tableDefs are the server-side printers of each kind (kubectl get columns).
// Columns, their order, priorities (1 = shown with -o wide) and cell
// contents follow Kubernetes's pkg/printers/internalversion; rows always
// carry the wide cells, as the Kubernetes API server's do.
var tableDefs = map[string]*TableDef{
	"Pod":                podTable,
	"Deployment":         deploymentTable,
	"ReplicaSet":         replicaSetTable,
	"StatefulSet":        statefulSetTable,
	"DaemonSet":          daemonSetTable,
	"Job":                jobTable,
	"ControllerRevision": controllerRevisionTable,
	"Service":            serviceTable,
	"Endpoints":          endpointsTable,
	"EndpointSlice":      endpointSliceTable,
	"Node":               nodeTable,
	"Namespace":          namespaceTable,
	"ConfigMap":          configMapTable,
	"Secret":             secretTable,
	"ServiceAccount":     serviceAccountTable,
	"Event":              eventTable,
	"Lease":              leaseTable,
	"Ingress":            ingressTable,
}

// Column descriptions shared by several printers.
const (
	containersDesc = "Names of each container in the template."
	imagesDesc     = "Images referenced by each container in the template."
)

var (
	containersCol = col("Containers", "string", 1, containersDesc)
	imagesCol     = col("Images", "string", 1, imagesDesc)
)

// layoutContainers joins the names and the images of containers.
func layoutContainers(ctrs []corev1.Container) (names, images string) {
	n := make([]string, len(ctrs))
	im := make([]string, len(ctrs))
	for i, c := range ctrs {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// listWithMore joins up to max items and says how many were left out;
// an empty list is "<unset>".
func listWithMore(list []string, count, max int) string {
	s := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	if s == "" {
		return "<unset>"
	}
	return s
}
