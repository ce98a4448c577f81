import { engineConformanceOn } from './conformance-support.js';

engineConformanceOn('memory', 'memory is always there');
