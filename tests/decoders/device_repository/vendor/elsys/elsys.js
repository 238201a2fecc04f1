"use strict";
// Written for lorawan-monitor's tests (not vendor code), shaped like a codec compiled
// from TypeScript: the module.exports assignment runs before `codec` has a value, the
// decoder is an ES5 class made by an IIFE, and the TTS entry points are plain functions.
// Format: the Elsys generic payload document (type bytes 0x01 temperature s16 / 10,
// 0x02 humidity u8, 0x04 light u16, 0x05 motion u8, 0x06 CO2 u16, 0x07 VDD u16 mV).
var codec;
if (typeof module !== 'undefined') { module.exports = codec; }
Object.defineProperty(globalThis, "__esModuleFixture", { value: true, configurable: true });
var ElsysDecoder = /** @class */ (function () {
    function ElsysDecoder(bytes) {
        this.bytes = bytes;
        this.i = 0;
    }
    ElsysDecoder.prototype.u8 = function () {
        return this.bytes[this.i++];
    };
    ElsysDecoder.prototype.u16 = function () {
        var v = (this.bytes[this.i] << 8) | this.bytes[this.i + 1];
        this.i += 2;
        return v;
    };
    ElsysDecoder.prototype.s16 = function () {
        var v = this.u16();
        return v & 0x8000 ? v - 0x10000 : v;
    };
    ElsysDecoder.prototype.decode = function () {
        var _a;
        var out = {};
        while (this.i < this.bytes.length) {
            var type = this.u8();
            switch (type) {
                case 0x01:
                    out.temperature = this.s16() / 10;
                    break;
                case 0x02:
                    out.humidity = this.u8();
                    break;
                case 0x04:
                    out.light = this.u16();
                    break;
                case 0x05:
                    out.motion = this.u8();
                    break;
                case 0x06:
                    out.co2 = this.u16();
                    break;
                case 0x07:
                    out.vdd = this.u16();
                    break;
                default:
                    throw new Error("unknown type 0x" + ((_a = type) !== null && _a !== void 0 ? _a : 0).toString(16));
            }
        }
        return out;
    };
    return ElsysDecoder;
}());
codec = {
    decodeUplink: function (input) {
        return { data: new ElsysDecoder(input.bytes).decode() };
    },
    normalizeUplink: function (input) {
        var d = input.data;
        var air = {};
        if (d.temperature !== undefined) air.temperature = d.temperature;
        if (d.humidity !== undefined) air.relativeHumidity = d.humidity;
        if (d.light !== undefined) air.lightIntensity = d.light;
        if (d.co2 !== undefined) air.co2 = d.co2;
        var m = { air: air };
        if (d.motion !== undefined) m.action = { motion: { count: d.motion } };
        if (d.vdd !== undefined) m.battery = d.vdd / 1000;
        return { data: [m] };
    }
};
function decodeUplink(input) {
    return codec.decodeUplink(input);
}
function normalizeUplink(input) {
    return codec.normalizeUplink(input);
}
