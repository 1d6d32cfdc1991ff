local svc = import 'lib/service.libsonnet';
svc.make('api', importstr 'lib/banner.txt')
