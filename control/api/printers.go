package api

// tableDefs are the server-side printers of each kind (kubectl get columns).
var tableDefs = map[string]*TableDef{}
