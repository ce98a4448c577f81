import { engineConformanceOn } from './conformance-support.js';

// PrismaBackend on in-process PGlite through its Prisma adapter ({ adapter }).
engineConformanceOn('prisma/pglite', 'PGlite is always there');
