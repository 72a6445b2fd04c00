export { testInfra, uniqueName, type TestInfra } from './infra.js';
export { bearer, signTestToken, TEST_ADMIN_SECRET, TEST_JWT_SECRET, type TestTokenOptions } from './tokens.js';
export { waitFor } from './wait.js';
export { startSmtpReceiver, type ReceivedMail, type SmtpReceiver } from './smtp-receiver.js';
export { describeServiceContract, type ContractTarget } from './service-contract.js';
