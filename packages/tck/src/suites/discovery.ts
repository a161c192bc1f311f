/**
 * Discovery and server reflection (upstream `ProxyTCK`): 2 proxy tests on what the proxy
 * sent in discovery and on its `grpc.reflection.v1alpha` service.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ActionProtocol, Crdt, EventSourced, ValueEntity } from "@switchboard/protocol";
import { check, checkEqual } from "../assertion-error.js";
import { expectMessage } from "../compare.js";
import { ServerReflection, ServerReflectionInfo, ServerReflectionRequestSchema, ServerReflectionResponseSchema } from "../reflection.js";
import { proxyTest, type TckSuite } from "../suite.js";

type RequestInit = MessageInitShape<typeof ServerReflectionRequestSchema>;

/** The Discovery area: ProxyInfo, discovered services and server reflection. */
export const discoverySuite: TckSuite = {
  area: "Discovery",
  tests: [
    proxyTest("proxy info and entity discovery", async ({ proxyInfo, serviceNames, discoveredServices }) => {
      checkEqual(proxyInfo.protocolMajorVersion, 0, "ProxyInfo.protocol_major_version");
      checkEqual(proxyInfo.protocolMinorVersion, 2, "ProxyInfo.protocol_minor_version");
      const expected = [ActionProtocol.typeName, ValueEntity.typeName, EventSourced.typeName, Crdt.typeName].sort();
      checkEqual(JSON.stringify([...proxyInfo.supportedEntityTypes].sort()), JSON.stringify(expected), "ProxyInfo.supported_entity_types (any order)");
      const missing = serviceNames.filter((name) => !discoveredServices.includes(name));
      check(missing.length === 0, () => `entities whose service is not in the descriptor set: ${missing.join(", ")}`);
    }),

    proxyTest("that the proxy supports server reflection", async ({ client, proxyHost, serviceNames }) => {
      const expectedServices = [ServerReflection.typeName, ...[...serviceNames].sort()];
      const call = client.bidi(ServerReflectionInfo);
      const sendAndExpect = async (messageRequest: RequestInit["messageRequest"], messageResponse: Record<string, unknown>) => {
        const request = create(ServerReflectionRequestSchema, { host: proxyHost, messageRequest } as RequestInit);
        call.send(request);
        const expected = create(ServerReflectionResponseSchema, { validHost: proxyHost, originalRequest: request, messageResponse } as MessageInitShape<
          typeof ServerReflectionResponseSchema
        >);
        expectMessage(ServerReflectionResponseSchema, await call.next(), expected, "reflection response");
      };
      const listed = { case: "listServicesResponse", value: { service: expectedServices.map((name) => ({ name })) } };
      await sendAndExpect({ case: "listServices", value: "" }, listed);
      await sendAndExpect({ case: "listServices", value: "nonsense.blabla." }, listed);
      await sendAndExpect(
        { case: "fileContainingSymbol", value: "nonsense.blabla.Void" },
        { case: "fileDescriptorResponse", value: { fileDescriptorProto: [] } },
      );
      call.complete();
      await call.expectComplete();
    }),
  ],
};
