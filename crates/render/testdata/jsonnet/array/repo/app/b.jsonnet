{
  apiVersion: 'v1',
  kind: 'List',
  items: [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b-svc' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'b-sa' } },
  ],
}
