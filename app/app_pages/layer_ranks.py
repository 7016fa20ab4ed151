import streamlit as st
st.title("layer_ranks")
