/**
 * The shopping cart user function: serves the cart on HOST:PORT (default 127.0.0.1:8080) to a
 * Cloudstate proxy.
 */
import { serve } from "@switchboard/sdk";
import { shoppingCart } from "./shopping-cart.js";

await serve([shoppingCart], { serviceName: "shopping-cart-example", serviceVersion: "0.1.0" });
